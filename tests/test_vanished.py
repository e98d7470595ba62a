"""A queued job whose task message the broker lost ends ``lost`` (``MessageLost``), once,
with a history row; jobs whose messages the broker still holds stay ``queued``.

kombu's Redis transport takes a message off its queue (``BRPOP``) before it records it as
unacknowledged. The test makes that window certain: a prefork worker's main process is
stopped while it blocks in ``BRPOP``, a message is published (Redis pops it into the
stopped worker's socket), and the worker is killed. The broker is a Redis of this test
alone, so the only client blocked in ``BRPOP`` is that worker's.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from regiq_tasks import get_history, get_job
from regiq_tasks.housekeeping.vanished import CANDIDATES, _candidates, check_vanished
from regiq_tasks.metrics.broker import consumer_cache
from regiq_tasks.store import Change, LiveStore
from regiq_tasks.store.keys import Keys
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.ports import free_port
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.waiting import wait_for

pytestmark = pytest.mark.prefork
MESSAGE_LOST_AFTER = 2  # s


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """Broker and tracking store of this test alone: its clients are this test's."""
    server = RedisServer(tmp_path / "redis", persistent=False).start()
    yield server
    server.stop()


def status_of(app: Celery, job_id: str) -> str | None:
    job = get_job(job_id, app=app)
    return job["status"] if job else None


def blocked_in_brpop(client: redis.Redis) -> bool:
    return any(c.get("cmd") == "brpop" and "b" in c.get("flags", "")
               for c in client.client_list())


def stop_while_in_brpop(pid: int, client: redis.Redis) -> bool:
    """Stop the process; keep it stopped only if it is the one blocked in BRPOP now."""
    os.kill(pid, signal.SIGSTOP)
    if blocked_in_brpop(client):
        return True
    os.kill(pid, signal.SIGCONT)
    return False


def test_a_message_taken_by_a_worker_killed_before_it_recorded_it_ends_its_job_lost(
        make_app: Callable[..., Celery], prefork_worker: Callable[..., Any],
        own_redis: RedisServer, prefix: str) -> None:
    # Given a worker on the app's queue and a doomed one alone on a queue of its own,
    # both judging queued jobs after MESSAGE_LOST_AFTER s
    app = make_app(redis_url=own_redis.url, message_lost_after=MESSAGE_LOST_AFTER)
    env = {"REGIQ_MESSAGE_LOST_AFTER": str(MESSAGE_LOST_AFTER)}
    start = {"tracking_redis_url": own_redis.url, "broker_url": own_redis.url, "env": env}
    prefork_worker(app, **start)
    doomed_queue = f"{prefix}doomed"
    doomed = prefork_worker(app, queues=doomed_queue, **start)
    # and two jobs the broker holds: one on a queue nobody consumes, one with a countdown
    # that the live worker has taken and holds unacknowledged
    add = app.tasks["t.add"]
    idle = add.apply_async((1, 1), queue=f"{prefix}idle")
    later = add.apply_async((2, 2), countdown=120)
    client = redis.Redis.from_url(own_redis.url)
    unacked = f"{prefix}celery:unacked"
    wait_for(lambda: client.hlen(unacked) == 1, 20, "the countdown job held unacknowledged")

    # When the doomed worker takes a message off its queue and dies before recording it
    wait_for(lambda: stop_while_in_brpop(doomed.process.pid, client), 20,
             "the doomed worker stopped while it waits in BRPOP", interval=0.05)
    job = add.apply_async((3, 3), queue=doomed_queue)
    doomed_list = f"{prefix}celery:{doomed_queue}"
    wait_for(lambda: status_of(app, job.id) == "queued" and client.llen(doomed_list) == 0,
             10, "Redis to hand the message to the stopped worker")
    doomed.kill(signal.SIGKILL)
    doomed.process.wait(10)
    assert client.hlen(unacked) == 1  # only the countdown job's: the message is nowhere
    prefork_worker(app, queues=doomed_queue, **start)  # its replacement (what systemd does):
    # only queues a live worker consumes are judged

    # Then the job ends lost, with why, and reaches the history
    wait_for(lambda: status_of(app, job.id) == "lost", 40, "the job to end lost")
    record = get_job(job.id, app=app)
    assert record["error"]["type"] == "MessageLost"
    assert "no longer holds" in record["error"]["message"]
    assert record["worker"] is None and record["started_at"] is None
    assert get_tracker(app).flush()
    rows = wait_for(lambda: [r for r in get_history(id_prefix=job.id, app=app)["items"]], 20,
                    "the lost job's history row")
    assert [r["status"] for r in rows] == ["lost"]
    # a job on a queue nobody consumes is never judged; one held unacknowledged was, in
    # the same passes: both stay queued
    assert status_of(app, idle.id) == "queued" and status_of(app, later.id) == "queued"
    # and the metric counters saw the one lost job once
    tracker = get_tracker(app)
    counts = tracker.redis.hgetall(tracker.keys.metrics_cum("all"))
    assert int(counts[b"n:lost"]) == 1


def test_only_a_queued_job_no_worker_accepted_is_judged_and_ended(
        own_redis: RedisServer) -> None:
    client = redis.Redis.from_url(own_redis.url)
    store = LiveStore(client, Keys("v:"))

    def queued(job_id: str, created_at: float) -> Change:
        return Change(job_id, "queued", fill={"id": job_id, "name": "t.add", "queue": "q",
                                              "created_at": created_at})
    store.apply_many([queued("old", 100.0), queued("accepted", 101.0),
                      queued("ran", 102.0), Change("ran", "running", set={"started_at": 103.0}),
                      queued("new", 200.0)])
    client.zadd(Keys("v:").running, {"accepted": 150.0})  # a worker's accept mark
    # the candidates: queued before the cutoff, not accepted, oldest first, with the queue
    assert store.queued_before(150.0) == (2, [("old", "q")])
    assert store.queued_before(300.0) == (3, [("old", "q"), ("new", "q")])
    assert store.queued_before(300.0, count=1, start=1) == (1, [])  # paged
    # the guarded change ends only a job that is still queued and unaccepted
    lost = [Change(job_id, "lost", set={"finished_at": 300.0}, reap_queued=True)
            for job_id in ("old", "accepted", "ran", "unknown")]
    assert store.apply_many(lost) == [("lost", False), ("queued", False),
                                      ("running", False), ("", False)]
    assert store.get("unknown") is None


def test_with_the_broker_unreachable_nothing_is_judged_lost(
        make_app: Callable[..., Celery], caplog: pytest.LogCaptureFixture) -> None:
    # Given a job queued long ago on a queue a worker was last seen consuming, and a
    # broker that refuses connections
    app = make_app(broker_url=f"redis://127.0.0.1:{free_port()}/0", message_lost_after=1)
    tracker = get_tracker(app)
    tracker.store.apply(Change("old", "queued", fill={"id": "old", "name": "t.add",
                                                      "queue": "q", "created_at": 100.0}))
    cache = consumer_cache(app)
    cache._counts, cache._at = {"q": 1}, time.monotonic() + 3600  # as a broadcast had left it
    # When two passes run, then the job is still queued, and the log says why
    assert check_vanished(tracker) == 0 and check_vanished(tracker) == 0
    assert status_of(app, "old") == "queued"
    assert "cannot search the broker" in caplog.text


def test_old_jobs_on_a_queue_nobody_consumes_do_not_hide_the_others(
        make_app: Callable[..., Celery]) -> None:
    app = make_app()
    tracker = get_tracker(app)
    idle = [Change(f"idle-{i}", "queued", fill={"id": f"idle-{i}", "name": "t.add",
                                                 "queue": "idle", "created_at": 100.0 + i})
            for i in range(CANDIDATES + 100)]
    tracker.store.apply_many([*idle, Change("mine", "queued", fill={
        "id": "mine", "name": "t.add", "queue": "q", "created_at": 1000.0})])
    cache = consumer_cache(app)
    cache._counts, cache._at = {"q": 1}, time.monotonic() + 3600  # as a broadcast had left it
    assert _candidates(tracker, 2000.0) == (["q"], ["mine"])


def test_on_rabbitmq_nothing_is_searched_or_broadcast(make_app: Callable[..., Celery]) -> None:
    """RabbitMQ gives a dead consumer's messages back itself (no connection is made)."""
    app = make_app(broker_url="amqp://guest:guest@127.0.0.1:5672//", message_lost_after=1)
    tracker = get_tracker(app)
    tracker.store.apply(Change("old", "queued", fill={"id": "old", "name": "t.add",
                                                      "queue": "q", "created_at": 100.0}))
    assert check_vanished(tracker) == 0 and check_vanished(tracker) == 0
    assert status_of(app, "old") == "queued"
    cache = consumer_cache(app)
    assert not cache._refreshing and cache._at == 0.0  # no broadcast was asked for
