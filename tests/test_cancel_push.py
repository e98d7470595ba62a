"""Cancel requests pushed to the process running the job (``P cancels``, issue 14).

The read-back of cancel flags (every 0.2 s, and with progress flushes) stays as the
fallback; these tests show the push on its own: the read-back is switched off, so only
the listener can have marked the job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from celery import Celery

from regiq_tasks import TrackedTask, cancel_job, get_job
from regiq_tasks.cancel import enforce
from regiq_tasks.tracking.runtime import JobRuntime
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.services import thread_worker
from tests.fixtures.waiting import wait_for


@pytest.fixture
def no_read_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cancel flags are never read back: only a pushed request can reach a job."""
    monkeypatch.setattr(enforce.CancelWatch, "__call__", lambda self: None)


def _running(app: Celery, job_id: str, task: Any) -> JobRuntime:
    """A job recorded as running in this process (as ``on_started`` leaves it)."""
    tracker = get_tracker(app)
    tracker.store.apply(_change(job_id, "queued", {"id": job_id, "name": task.name,
                                                   "created_at": time.time()}))
    tracker.store.apply(_change(job_id, "running", {}))
    rt = JobRuntime(job_id, task, time.time(), 0)
    tracker.running.register(rt)
    return rt


class _Task:
    """What a runtime needs of its task: a name."""

    name = "push.idle"


def _change(job_id: str, status: str, fill: dict[str, Any]) -> Any:
    from regiq_tasks.store import Change

    return Change(job_id, status, fill=fill)


def test_a_running_task_stops_at_its_next_check_without_a_read_back(
        make_app: Callable[..., Celery], no_read_back: None) -> None:
    # progress flushes read the flag back too: far apart here, so they cannot
    app = make_app(progress_interval=3600)
    checks: list[float] = []

    @app.task(bind=True, base=TrackedTask, name="push.loop")
    def loop(self: Any) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            self.progress(len(checks), 1_000_000)
            checks.append(time.monotonic())
            time.sleep(0.005)
        return "ran out"

    with thread_worker(app):
        job = loop.delay()
        wait_for(lambda: (get_job(job.id, app=app) or {}).get("status") == "running", 15,
                 "the job runs")
        tracker = get_tracker(app)
        wait_for(tracker.cancels.subscribed.is_set, 10, "the listener subscribed")
        cancel_job(job.id, "push test", app=app)
        wait_for(lambda: (get_job(job.id, app=app) or {}).get("status") == "cancelled", 10,
                 "the job ends cancelled")
        assert tracker.cancels.received == 1
        assert len(checks) < 30 / 0.005  # it stopped long before its own deadline


def test_a_terminate_request_starts_the_grace_period(make_app: Callable[..., Celery],
                                                     no_read_back: None) -> None:
    app = make_app(cancel_grace=7)
    tracker = get_tracker(app)
    task = _Task()
    rt = _running(app, "push-terminate", task)
    tracker.cancels.start()
    wait_for(tracker.cancels.subscribed.is_set, 10, "the listener subscribed")
    before = time.monotonic()
    assert cancel_job("push-terminate", "stop", terminate=True, app=app)["status"] == "running"
    wait_for(lambda: rt.cancelled, 5, "the runtime marked cancelled")
    assert rt.terminate_at is not None
    assert before + 7 <= rt.terminate_at <= time.monotonic() + 7
    other = _running(app, "push-other", task)
    assert not other.cancelled  # a request for another job marks only that job


def test_the_listener_comes_back_with_redis(make_app: Callable[..., Celery],
                                            volatile_redis: RedisServer,
                                            no_read_back: None) -> None:
    app = make_app(redis_url=volatile_redis.url, redis_timeout=0.5)
    tracker = get_tracker(app)
    task = _Task()
    tracker.cancels.start()
    wait_for(tracker.cancels.subscribed.is_set, 10, "the listener subscribed")
    volatile_redis.stop()
    wait_for(lambda: not tracker.cancels.subscribed.is_set(), 10, "the listener saw it go")
    volatile_redis.start()  # the same port, empty (the fixture stops it)
    try:
        wait_for(tracker.cancels.subscribed.is_set, 15, "the listener subscribed again")
        rt = _running(app, "push-after-restart", task)
        cancel_job("push-after-restart", "after the restart", app=app)
        wait_for(lambda: rt.cancelled, 5, "the request pushed after the restart")
        assert tracker.cancels.received == 1
    finally:
        tracker.cancels.stop()
