"""Tracking through Redis Sentinel, and its primary killed while jobs run (issue 15).

The live store is a Sentinel service (one primary, one replica, three sentinels, all
local processes). In the failover count the broker and result backend stay on the
machine's Redis, so what is measured is the store's failover: jobs are sent before,
during and after it, and what the history holds afterwards is counted. Another test
makes the service Celery's broker and result backend too (kombu's ``sentinel://``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery
from sqlalchemy import text

from regiq_tasks import TrackedTask, get_job
from regiq_tasks.config import Settings
from regiq_tasks.connect import SentinelURL
from regiq_tasks.errors import ConfigurationError
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.sentinel import SentinelGroup
from tests.fixtures.services import status_or_none, thread_worker, worker_with_housekeeper
from tests.fixtures.waiting import wait_for


@pytest.fixture
def group(tmp_path: Path) -> Iterator[SentinelGroup]:
    sentinels = SentinelGroup(tmp_path / "sentinel").start()
    try:
        yield sentinels
    finally:
        sentinels.stop()


def _archived(app: Celery, ids: list[str]) -> int:
    """How many of ``ids`` have a history row (each at most one: the id is the key)."""
    with get_tracker(app).engine.connect() as conn:
        rows = conn.execute(text("SELECT id FROM job_history")).scalars().all()
    return len(set(rows) & set(ids))


def _writable(app: Celery) -> bool:
    """One write through the tracking client succeeds (on whichever node is primary)."""
    try:
        return bool(get_tracker(app).redis.set(f"{get_tracker(app).keys.prefix}probe", 1))
    except redis.RedisError:
        return False


def test_tracking_resumes_on_the_promoted_replica(make_app: Callable[..., Celery],
                                                  redis_url: str,
                                                  group: SentinelGroup) -> None:
    app = make_app(redis_url=group.url, broker_url=redis_url, redis_timeout=0.5)

    @app.task(bind=True, base=TrackedTask, name="sentinel.step")
    def step(self: Any) -> int:
        for i in range(4):
            self.progress(i + 1, 4)
            time.sleep(0.005)
        return 4

    with worker_with_housekeeper(app):
        before = [step.delay().id for _ in range(20)]
        wait_for(lambda: _archived(app, before) == 20, 30, "the first 20 jobs archived")

        old = group.kill_primary()
        killed = time.monotonic()
        during = [step.delay().id for _ in range(20)]  # they run while the store is down
        resumed = wait_for(lambda: _writable(app) and time.monotonic() - killed, 30,
                           "the tracking store writable again")
        new = wait_for(lambda: (p := group.primary_port()) not in (None, old) and p, 15,
                       "the sentinels promoted the replica")
        assert new == group.ports["replica"]

        after = [step.delay().id for _ in range(20)]
        wait_for(lambda: _archived(app, after) == 20, 30, "the 20 jobs sent after archived")
        wait_for(lambda: _archived(app, during) == len(during), 30,
                 "the jobs sent during the failover archived")
    # What was archived before the kill is in SQL; nothing sent after it was lost, and
    # tracking came back within a few seconds of the kill (failover detection 0.5 s).
    assert _archived(app, before) == 20
    print(f"sentinel failover: the store writable again {resumed:.2f} s after the kill; "
          f"20/20 jobs sent before, 20/20 during (their changes queued in memory), "
          f"20/20 after archived")
    assert resumed < 10


def test_a_worker_whose_broker_is_the_sentinel_group_runs_jobs_across_a_failover(
        make_app: Callable[..., Celery], group: SentinelGroup) -> None:
    # Given an app with no broker of its own: broker, results and the live store are the
    # Sentinel service (kombu's sentinel:// for Celery), as the bundled app maps it
    app = make_app(redis_url=group.url, redis_timeout=0.5)
    assert str(app.conf.broker_url).startswith("sentinel://")
    add = app.tasks["t.add"]
    with thread_worker(app):
        first = add.delay(1, 2)
        assert first.get(timeout=20) == 3
        wait_for(lambda: status_or_none(app, first.id) == "succeeded", 10, "first tracked")
        # When the primary dies and the sentinels promote the replica (a client that asks
        # them finds it: right after the switch they may still answer "no master")
        old = group.kill_primary()
        wait_for(lambda: group.primary_port() not in (None, old) and _writable(app), 15,
                 "the replica promoted and found through the sentinels")
        # Then the worker's consumer and the producer find the new primary by themselves
        second = add.delay(2, 3)
        wait_for(lambda: status_or_none(app, second.id) == "succeeded", 30,
                 "a job published after the failover tracked to succeeded")
    assert get_job(second.id, app=app)["worker"]


def test_sentinel_urls_are_checked() -> None:
    url = SentinelURL.parse("redis+sentinel://u:p%40ss@h1:26379,[::1]:26380/3/svc")
    assert url.sentinels == (("h1", 26379), ("::1", 26380))
    assert (url.service, url.db, url.username, url.password) == ("svc", 3, "u", "p@ss")
    assert url.kombu_url() == "sentinel://u:p%40ss@h1:26379/3;sentinel://u:p%40ss@[::1]:26380/3"
    assert SentinelURL.parse("redis+sentinel://h:1").service == "mymaster"
    store = Settings(redis_url="redis+sentinel://h1:1,h2:2/0/svc")
    assert store.effective_broker_url == "sentinel://h1:1/0;sentinel://h2:2/0"
    assert store.sentinel_transport_options(store.effective_result_backend) == \
        {"master_name": "svc"}
    assert Settings(redis_url="redis+sentinel://h:1", broker_url="amqp://x").\
        sentinel_transport_options("amqp://x") == {}
    for bad in ("redis+sentinel://", "redis+sentinel://h1", "redis+sentinel://h:1/x",
                "redis+sentinel://h:1/0/s/extra"):
        with pytest.raises(ConfigurationError, match="REGIQ_REDIS_URL"):
            SentinelURL.parse(bad)
