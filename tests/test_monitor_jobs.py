"""Job and pipeline endpoints against jobs run by a real worker (live store and history)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery import Celery, chain, group

from regiq_tasks import get_history, get_job
from regiq_tasks.errors import HistoryNotFound
from regiq_tasks.history import repository, upgrade
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.monitor import Monitor
from tests.fixtures.services import worker_with_housekeeper
from tests.fixtures.waiting import wait_for
from tests.test_history import BASE, job


@pytest.fixture
def monitor(app: Celery) -> Monitor:
    return Monitor(app)


def ids(page: dict[str, Any]) -> list[str]:
    return [job["id"] for job in page["items"]]


def archived(app: Celery) -> int:
    """Jobs in the history; 0 until the worker created it (readers never create it)."""
    try:
        return len(get_history(app=app)["items"])
    except HistoryNotFound:
        return 0


def run_ok_and_failed(app: Celery) -> tuple[str, str]:
    ok = app.tasks["t.add"].delay(1, 2)
    bad = app.tasks["t.fail"].delay()
    ok.get(timeout=10)
    with pytest.raises(ValueError):
        bad.get(timeout=10)
    return ok.id, bad.id


def test_one_job_is_the_same_record_as_the_python_api(monitor: Monitor, app: Celery,
                                                      worker: Any) -> None:
    ok, bad = run_ok_and_failed(app)
    wait_for(lambda: get_job(bad, app=app)["status"] == "failed", 10, "failed job recorded")
    for job_id in (ok, bad):
        assert monitor.json(f"/status/jobs/{job_id}") == get_job(job_id, app=app)
    failed = monitor.json(f"/status/jobs/{bad}")
    assert failed["error"]["type"] == "ValueError" and failed["resources"]["cpu_time_s"] >= 0
    assert monitor.json(f"/status/jobs/{ok}")["progress"] == {
        "current": 1, "total": 1, "percent": 100.0, "message": "added"}
    assert monitor.get("/status/jobs/never-seen").status_code == 404


def test_every_live_filter_selects_its_jobs(monitor: Monitor, app: Celery,
                                            worker: Any) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    ok, bad = run_ok_and_failed(app)
    wait_for(lambda: ids(monitor.json("/status/jobs", status="failed")), 10, "failed listed")
    assert ids(monitor.json("/status/jobs", status="failed")) == [bad]
    assert ids(monitor.json("/status/jobs", type="ingest")) == [ok]
    host = monitor.json(f"/status/jobs/{ok}")["worker"]
    assert set(ids(monitor.json("/status/jobs", worker=host))) == {ok, bad}
    assert ids(monitor.json("/status/jobs", pipeline_id=bad)) == [bad]
    assert ids(monitor.json("/status/jobs", root_id=ok)) == [ok]
    assert ids(monitor.json("/status/jobs", since=before.isoformat())) == [bad, ok]
    assert ids(monitor.json("/status/jobs", until=before.replace(tzinfo=None).isoformat())) == []
    assert ids(monitor.json("/status/jobs", limit=1)) == [bad]
    assert ids(monitor.json("/status/jobs", status="failed", type="ingest")) == []


def test_pagination_is_stable_while_new_jobs_arrive(monitor: Monitor, app: Celery) -> None:
    add = app.tasks["t.add"]
    first = [add.delay(i, i).id for i in range(23)]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        query: dict[str, Any] = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        page = monitor.json("/status/jobs", **query)
        seen += ids(page)
        for i in range(3):  # newer jobs keep arriving between page fetches
            add.delay(100, i)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "an item was listed twice"
    assert set(first) <= set(seen), "an item was skipped"
    assert seen[-23:] == first[::-1]


def test_history_lists_archived_jobs_with_every_filter(make_app: Callable[..., Celery],
                                                       database_url: str) -> None:
    app = make_app(database_url=database_url)
    monitor = Monitor(app)
    before = datetime.now(UTC) - timedelta(seconds=1)
    with worker_with_housekeeper(app):
        ok, bad = run_ok_and_failed(app)
        wait_for(lambda: archived(app) == 2, 15, "both jobs archived")
    history = monitor.json("/status/jobs/history")
    assert ids(history) == [bad, ok] and history["next_cursor"] is None
    assert history["items"][0] == get_history(app=app)["items"][0]
    host = history["items"][0]["worker"]
    expectations = [
        ({"status": "failed"}, [bad]), ({"type": "ingest"}, [ok]), ({"name": "t.fail"}, [bad]),
        ({"worker": host}, [bad, ok]), ({"pipeline_id": ok}, [ok]), ({"root_id": bad}, [bad]),
        ({"since": before.isoformat()}, [bad, ok]), ({"until": before.isoformat()}, []),
        ({"status": "failed", "type": "ingest"}, []),
    ]
    for query, expected in expectations:
        assert ids(monitor.json("/status/jobs/history", **query)) == expected, query
    first = monitor.json("/status/jobs/history", limit=1)
    second = monitor.json("/status/jobs/history", limit=1, cursor=first["next_cursor"])
    assert ids(first) + ids(second) == [bad, ok] and second["next_cursor"] is None
    assert monitor.json(f"/status/jobs/{ok}")["status"] == "succeeded"


def test_a_history_listing_past_its_timeout_is_a_503_saying_how_to_narrow_it(
        make_app: Callable[..., Celery], database_url: str) -> None:
    app = make_app(database_url=database_url, history_query_timeout=0.001)
    upgrade(database_url)
    repository.upsert_jobs(get_tracker(app).engine, [
        job(f"f{i}", created=BASE + timedelta(milliseconds=i), status="failed",
            worker="celery@a") for i in range(20_000)])
    monitor = Monitor(app)
    response = monitor.get("/status/jobs/history",
                           query={"status": "failed", "worker": "celery@b"})
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "unavailable" and "Traceback" not in response.get_data(as_text=True)
    assert error["message"] == (
        "history database query timed out after 0.001 s (REGIQ_HISTORY_QUERY_TIMEOUT): "
        "narrow the listing with since/until or a more selective filter")
    # a page an index serves at once is not cut short: the limit is per listing
    assert ids(monitor.json("/status/jobs/history", limit=1, worker="celery@a")) == ["f19999"]


def test_a_job_only_in_history_is_found_and_refuses_progress(make_app: Callable[..., Celery]
                                                             ) -> None:
    app = make_app(live_ttl=0.01)
    monitor = Monitor(app)
    with worker_with_housekeeper(app):
        done = app.tasks["t.add"].delay(1, 2)
        done.get(timeout=10)
        wait_for(lambda: get_tracker(app).store.get(done.id) is None, 15, "job left Redis")
    assert monitor.json(f"/status/jobs/{done.id}")["status"] == "succeeded"
    response = monitor.put(f"/status/jobs/{done.id}/progress", {"current": 1})
    assert response.status_code == 409
    assert monitor.put(f"/status/jobs/{done.id}/cancel", {"reason": "r"}).status_code == 409


def test_a_pipeline_is_one_resource_with_its_jobs(monitor: Monitor, app: Celery,
                                                  worker: Any) -> None:
    add, total = app.tasks["t.add"], app.tasks["t.total"]
    result = chain(group(add.s(1, 1), add.s(2, 2)), total.s()).apply_async()
    assert result.get(timeout=15) == 6
    pipeline_id = get_job(result.id, app=app)["pipeline_id"]
    wait_for(lambda: monitor.json(f"/status/pipelines/{pipeline_id}")["status"] == "succeeded",
             10, "pipeline finished")
    pipeline = monitor.json(f"/status/pipelines/{pipeline_id}")
    assert pipeline["total_jobs"] == 3 and pipeline["counts"] == {"succeeded": 3}
    assert pipeline["progress"] == {"percent": 100.0, "finished_jobs": 3}
    assert ids(monitor.json("/status/jobs", pipeline_id=pipeline_id, limit=10)) \
        == [j["id"] for j in reversed(pipeline["jobs"])]
    assert monitor.get("/status/pipelines/unknown").status_code == 404


def test_progress_from_outside_updates_the_live_record_and_emits_an_event(
        monitor: Monitor, app: Celery) -> None:
    job = app.tasks["t.add"].delay(1, 2)
    response = monitor.put(f"/status/jobs/{job.id}/progress",
                           {"current": 3, "total": 10, "message": "parsed d3"})
    assert response.status_code == 200
    expected = {"current": 3, "total": 10, "percent": 30.0, "message": "parsed d3"}
    assert response.get_json()["progress"] == expected
    assert get_job(job.id, app=app)["progress"] == expected
    store = get_tracker(app).store
    events = store.client.xrevrange(store.keys.events, count=5)
    assert any(fields[b"id"] == job.id.encode() and b"parsed d3" in fields[b"data"]
               for _, fields in events), events
    partial = monitor.put(f"/status/jobs/{job.id}/progress", {"current": 4})
    assert partial.get_json()["progress"]["percent"] == 40.0
    assert monitor.put("/status/jobs/unknown/progress", {"current": 1}).status_code == 404


def test_progress_of_a_finished_job_is_409(monitor: Monitor, app: Celery, worker: Any) -> None:
    done = app.tasks["t.add"].delay(1, 2)
    done.get(timeout=10)
    wait_for(lambda: get_job(done.id, app=app)["status"] == "succeeded", 10, "succeeded")
    response = monitor.put(f"/status/jobs/{done.id}/progress", {"current": 5})
    assert response.status_code == 409
    assert response.get_json()["error"]["details"] == {"id": done.id, "status": "succeeded"}
    assert get_job(done.id, app=app)["progress"]["current"] == 1


def test_cancel_is_202_with_the_job_and_records_the_token_role(monitor: Monitor,
                                                               app: Celery) -> None:
    job = app.tasks["t.add"].delay(1, 2)  # no worker: stays queued
    response = monitor.put(f"/status/jobs/{job.id}/cancel", {"reason": "wrong file"})
    assert response.status_code == 202
    record = response.get_json()
    assert record["status"] == "cancelled" and record["started_at"] is None
    assert record["cancel"]["reason"] == "wrong file"
    assert record["cancel"]["requested_by"] == "operator"
    again = monitor.put(f"/status/jobs/{job.id}/cancel", {"reason": "second", "terminate": True},
                        role="admin")
    assert again.status_code == 202
    assert again.get_json()["cancel"]["reason"] == "wrong file"


def test_cancel_of_a_running_job_stops_it_cooperatively(monitor: Monitor, app: Celery,
                                                        worker: Any) -> None:
    job = app.tasks["t.cooperative"].delay(500, 0.01, f"{app.main}:finally")
    wait_for(lambda: (get_job(job.id, app=app) or {}).get("status") == "running", 10, "running")
    response = monitor.put(f"/status/jobs/{job.id}/cancel", {"reason": "stop", "terminate": False})
    assert response.status_code == 202
    assert response.get_json()["cancel"]["requested"] is True
    wait_for(lambda: monitor.json(f"/status/jobs/{job.id}")["status"] == "cancelled", 10,
             "cancelled")


def test_cancel_refuses_finished_jobs_with_409(monitor: Monitor, app: Celery,
                                               worker: Any) -> None:
    ok, bad = run_ok_and_failed(app)
    wait_for(lambda: get_job(bad, app=app)["status"] == "failed", 10, "failed")
    for job_id, status in ((ok, "succeeded"), (bad, "failed")):
        response = monitor.put(f"/status/jobs/{job_id}/cancel", {"reason": "late"})
        assert response.status_code == 409
        assert status in response.get_json()["error"]["message"]
