"""GET /status/jobs/{id}/logs: auth as every viewer endpoint, paging, 404, bad input."""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery

from regiq_tasks import get_job
from tests.fixtures.monitor import Monitor
from tests.fixtures.waiting import wait_for


@pytest.fixture
def monitor(app: Celery) -> Monitor:
    return Monitor(app)


def logged_job(app: Celery, n: int) -> str:
    result = app.tasks["t.logs"].delay([{"message": f"m{i} api_key=abc{i}"} for i in range(n)])
    result.get(timeout=20)
    wait_for(lambda: get_job(result.id, app=app)["status"] == "succeeded", 10, "job to end")
    return result.id


@pytest.mark.parametrize("who, expected", [
    ({"role": None}, 401), ({"token": "not-a-token"}, 401), ({"role": "viewer"}, 200),
    ({"role": "operator"}, 200), ({"role": "admin"}, 200)])
def test_job_logs_are_for_viewers_and_up(monitor: Monitor, app: Celery, worker: Any,
                                         who: dict[str, Any], expected: int) -> None:
    job_id = logged_job(app, 1)
    assert monitor.get(f"/status/jobs/{job_id}/logs", **who).status_code == expected


def test_pages_of_masked_lines_follow_the_cursor(monitor: Monitor, app: Celery,
                                                worker: Any) -> None:
    job_id = logged_job(app, 5)
    first = monitor.json(f"/status/jobs/{job_id}/logs", limit=2)
    assert [x["message"] for x in first["items"]] == ["m0 api_key=***", "m1 api_key=***"]
    assert set(first["items"][0]) == {"at", "level", "logger", "message"}
    assert first["dropped"] == 0 and first["next_cursor"]
    rest = monitor.json(f"/status/jobs/{job_id}/logs", limit=50, cursor=first["next_cursor"])
    assert [x["message"][:2] for x in rest["items"]] == ["m2", "m3", "m4"]
    assert rest["next_cursor"] is None


def test_an_unknown_job_is_404_and_bad_paging_is_400(monitor: Monitor, app: Celery) -> None:
    assert monitor.json("/status/jobs/nope/logs", expect=404)["error"]["code"]
    for query in ({"limit": 0}, {"limit": 501}, {"limit": "x"}, {"cursor": "!!"},
                  {"cursor": "bG9nOi0x"}):  # base64 of "log:-1"
        body = monitor.json("/status/jobs/nope/logs", expect=400, **query)
        assert body["error"]["code"]
