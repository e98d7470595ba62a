"""progress(): coalesced writes, percent, rate and ETA, the Celery ``task-progress`` event."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from celery import Celery

from regiq_tasks import TrackedTask, get_job
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.waiting import wait_for


def progress_events(app: Celery, job_id: str) -> list[dict[str, Any]]:
    tracker = get_tracker(app)
    out = []
    for _, fields in tracker.redis.xrange(tracker.keys.events):
        data = json.loads(fields[b"data"])
        if fields[b"id"].decode() == job_id and "progress_current" in data:
            out.append(data)
    return out


def test_progress_writes_are_coalesced_and_the_final_value_always_lands(
        app: Celery, worker: Any) -> None:
    # 3,000 reports over ~1.5 s with a 0.25 s interval: at most ~7 writes, not 3,000
    result = app.tasks["t.count"].delay(3000, 1.5)
    assert result.get(timeout=20) == 3000
    job = wait_for(lambda: (j := get_job(result.id, app=app)) and j["status"] == "succeeded"
                   and j, 10, "succeeded")
    events = progress_events(app, result.id)
    # at most one write per interval over the job's real duration (a busy machine may
    # stretch the 1.5 s), plus the first and the final ones
    assert 2 <= len(events) <= job["duration_s"] / 0.25 + 3
    assert job["progress"] == {"current": 3000, "total": 3000, "percent": 100.0,
                               "message": "step 3000"}


def test_percent_rate_and_eta_follow_the_reported_progress(app: Celery, worker: Any) -> None:
    result = app.tasks["t.count"].delay(40, 4.0)  # 10 steps per second

    def midway() -> Any:
        job = get_job(result.id, app=app)
        return job if job and job["progress"] and 10 <= job["progress"]["current"] <= 30 \
            and job["eta_seconds"] is not None else None
    job = wait_for(midway, 10, "progress midway")
    current = job["progress"]["current"]
    assert job["progress"]["percent"] == pytest.approx(100 * current / 40, abs=0.01)
    assert 5 <= job["rate_per_s"] <= 20
    expected_eta = (40 - current) / 10
    assert expected_eta * 0.5 <= job["eta_seconds"] <= expected_eta * 2 + 0.5
    result.get(timeout=20)


def test_progress_goes_out_as_a_task_progress_celery_event(app: Celery, worker: Any) -> None:
    seen: list[dict[str, Any]] = []
    ready = threading.Event()

    def listen() -> None:
        with app.connection_for_read() as conn:
            recv = app.events.Receiver(conn, handlers={
                "task-progress": seen.append, "*": lambda e: ready.set()})
            ready.set()
            try:
                recv.capture(limit=None, timeout=8, wakeup=False)
            except Exception:
                pass
    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    wait_for(ready.is_set, 10, "event receiver")
    result = app.tasks["t.count"].delay(30, 2.5)
    result.get(timeout=20)
    wait_for(lambda: any(e["uuid"] == result.id for e in seen), 10, "task-progress event")
    event = next(e for e in seen if e["uuid"] == result.id)
    assert event["total"] == 30 and event["current"] >= 1


def test_progress_outside_a_running_task_is_a_clear_error(app: Celery) -> None:
    task: TrackedTask = app.tasks["t.count"]
    with pytest.raises(RuntimeError, match="only available while the task runs"):
        task.progress(1, 2)


def test_bad_progress_values_are_refused_inside_the_task(app: Celery, worker: Any) -> None:
    assert "current >= 0" in app.tasks["t.badprogress"].delay().get(timeout=10)


def test_a_tracked_task_on_an_app_without_tracking_still_runs_and_returns(
        app: Celery, prefix: str) -> None:
    from tests.fixtures.services import thread_worker

    bare = Celery("not-installed", broker=app.conf.broker_url, backend=app.conf.broker_url,
                  set_as_current=False)
    bare.conf.update({k: app.conf[k] for k in (
        "broker_transport_options", "result_backend_transport_options", "task_default_queue")})

    @bare.task(base=TrackedTask, bind=True, shared=False, name="t.untracked_progress")
    def work(self: TrackedTask) -> str:
        self.progress(1, 2, message="half")
        self.check_cancelled()
        self.set_metadata(stage="done")
        return "ok"

    with thread_worker(bare):
        result = work.delay()
        assert result.get(timeout=10) == "ok"
    assert get_job(result.id, app=app) is None  # nothing was tracked, nothing broke
    bare.close()
