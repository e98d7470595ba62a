"""The Python API: typed errors for bad input, filters and stable keyset pagination."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery import Celery

from regiq_tasks import ConfigurationError, get_history, get_job, get_pipeline, install, list_jobs
from regiq_tasks.errors import LIVE_STORE, InvalidParameter, StoreUnavailable
from tests.fixtures.ports import free_port
from tests.fixtures.waiting import wait_for


def test_an_unknown_job_id_gives_none(app: Celery) -> None:
    assert get_job("no-such-job", app=app) is None
    assert get_pipeline("no-such-pipeline", app=app) is None


@pytest.mark.parametrize("call, parameter", [
    (lambda app: get_job("", app=app), "job_id"),
    (lambda app: get_job(42, app=app), "job_id"),
    (lambda app: list_jobs(status="exploded", app=app), "status"),
    (lambda app: list_jobs(limit=0, app=app), "limit"),
    (lambda app: list_jobs(limit=501, app=app), "limit"),
    (lambda app: list_jobs(limit="10", app=app), "limit"),
    (lambda app: list_jobs(since="yesterday", app=app), "since"),
    (lambda app: list_jobs(until=12j, app=app), "until"),
    (lambda app: list_jobs(since="2026-02-01", until="2026-01-01", app=app), "since"),
    (lambda app: get_history(since="0001-01-01T00:00:00+01:00", app=app), "since"),
    (lambda app: list_jobs(until=-5, app=app), "until"),
    (lambda app: list_jobs(cursor="not-a-cursor", app=app), "cursor"),
    (lambda app: list_jobs(pipeline_id="a", root_id="b", app=app), "pipeline_id"),
    (lambda app: get_history(type="", app=app), "type"),
    (lambda app: get_history(cursor="%%%", app=app), "cursor"),
])
def test_bad_arguments_raise_value_error_naming_the_parameter(app: Celery, call: Any,
                                                              parameter: str) -> None:
    with pytest.raises(ValueError, match=rf"^{parameter}:") as raised:
        call(app)
    assert isinstance(raised.value, InvalidParameter) and raised.value.parameter == parameter


@pytest.mark.parametrize("moment, accepted", [
    ("1970-01-01T00:00:00Z", True), ("9999-12-31T23:59:59Z", True),
    ("1969-12-31T23:59:59Z", False), ("9999-12-31T23:00:00-01:00", False),
    (datetime(9500, 1, 1), True),
])
def test_time_arguments_share_one_range_from_1970_to_9999(app: Celery, moment: Any,
                                                          accepted: bool) -> None:
    if accepted:
        assert list_jobs(until=moment, app=app)["items"] == []
    else:
        with pytest.raises(InvalidParameter, match="^until: must lie between"):
            list_jobs(until=moment, app=app)


def test_an_unreachable_store_is_named_by_the_error_not_by_its_text(make_app: Any) -> None:
    app = make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_timeout=0.5)
    with pytest.raises(StoreUnavailable) as raised:
        list_jobs(app=app)
    assert raised.value.dependency == LIVE_STORE
    assert raised.value.summary == "live store (Redis) unreachable"


def test_bad_settings_raise_a_configuration_error(app: Celery) -> None:
    with pytest.raises(ConfigurationError, match="lost_after"):
        install(app, lost_after=0)
    with pytest.raises(ValueError, match="unknown regiq setting 'lost_afterr'") as raised:
        install(app, lost_afterr=3)
    assert isinstance(raised.value, InvalidParameter) and raised.value.parameter == "lost_afterr"


def test_filters_select_by_status_type_worker_pipeline_and_time(app: Celery, worker: Any) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    ok = app.tasks["t.add"].delay(1, 2)
    bad = app.tasks["t.fail"].delay()
    ok.get(timeout=10)
    with pytest.raises(ValueError):
        bad.get(timeout=10)
    wait_for(lambda: list_jobs(status="failed", app=app)["items"], 10, "failed job listed")
    assert [j["id"] for j in list_jobs(status="failed", app=app)["items"]] == [bad.id]
    assert [j["id"] for j in list_jobs(type="ingest", app=app)["items"]] == [ok.id]
    host = get_job(ok.id, app=app)["worker"]
    assert {j["id"] for j in list_jobs(worker=host, app=app)["items"]} == {ok.id, bad.id}
    assert [j["id"] for j in list_jobs(root_id=ok.id, app=app)["items"]] == [ok.id]
    assert [j["id"] for j in list_jobs(pipeline_id=bad.id, app=app)["items"]] == [bad.id]
    assert len(list_jobs(since=before, app=app)["items"]) == 2
    assert list_jobs(until=before.replace(tzinfo=None), app=app)["items"] == []
    assert list_jobs(since=datetime.now(UTC) + timedelta(hours=1), app=app)["items"] == []
    assert list_jobs(status="failed", type="ingest", app=app)["items"] == []


def test_pagination_is_stable_while_new_jobs_arrive(app: Celery) -> None:
    add = app.tasks["t.add"]
    first_batch = [add.delay(i, i).id for i in range(23)]
    seen: list[str] = []
    cursor = None
    while True:
        page = list_jobs(limit=5, cursor=cursor, app=app)
        seen += [j["id"] for j in page["items"]]
        for i in range(3):  # newer jobs keep arriving between page fetches
            add.delay(100, i)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "an item was listed twice"
    assert set(first_batch) <= set(seen), "an item was skipped"
    created = [get_job(j, app=app)["created_at"] for j in seen]
    assert created == sorted(created, reverse=True)
