"""Tracking never breaks the task: the tracking Redis goes down and comes back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from regiq_tasks import StoreUnavailable, get_job
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.services import status_or_none, thread_worker
from tests.fixtures.waiting import wait_for


@pytest.fixture
def tracking_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "tracking-redis").start()
    yield server
    server.stop()


def test_tasks_run_and_return_while_tracking_redis_is_down_and_tracking_resumes(
        make_app: Callable[..., Celery], redis_url: str, tracking_redis: RedisServer) -> None:
    # broker and results on the main Redis, tracking on a Redis we can stop
    app = make_app(redis_url=tracking_redis.url, broker_url=redis_url)
    with thread_worker(app):
        running = app.tasks["t.count"].delay(20, 2.0)
        wait_for(lambda: status_or_none(app, running.id) == "running", 10, "job to run")
        tracking_redis.stop()
        started_during_outage = app.tasks["t.add"].delay(20, 22)
        assert running.get(timeout=20) == 20
        assert started_during_outage.get(timeout=20) == 42
        with pytest.raises(StoreUnavailable, match="live store"):
            get_job(running.id, app=app)
        tracking_redis.start()
        wait_for(lambda: status_or_none(app, running.id) == "succeeded", 20, "tracking to resume")
        wait_for(lambda: status_or_none(app, started_during_outage.id) == "succeeded", 20,
                 "the job started during the outage to be recorded")
    job: Any = get_job(running.id, app=app)
    assert job["progress"]["current"] == 20
