"""live_counts() and queues(): counts from the live store, depths from the broker itself."""

from __future__ import annotations

import time
from collections.abc import Callable

import billiard
import pytest
from celery import Celery
from kombu import Queue

from regiq_tasks.metrics.broker import CONSUMERS_TTL, consumer_cache
from regiq_tasks.metrics.realtime import live_counts, queues, routed_queues, snapshot
from regiq_tasks.store import Change
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.live import JobWriter
from tests.fixtures.services import PreforkWorker, thread_worker
from tests.fixtures.waiting import wait_for


def by_name(app: Celery) -> dict[str, dict[str, object]]:
    return {row["name"]: row for row in queues(app)}


def test_live_counts_every_status_and_the_active_jobs_by_type(app: Celery) -> None:
    # Given jobs of two types in every active status and a finished one
    writer = JobWriter(get_tracker(app).store)
    for job_id, job_type in (("a1", "ingest"), ("a2", "ingest"), ("b1", "report")):
        writer.queued(job_id, job_type)
    writer.queued("r1", "ingest")
    writer.running("r1")
    writer.queued("y1", "report")
    writer.running("y1")
    get_tracker(app).store.apply(Change("y1", status="retrying"))
    writer.run("done1", "ingest")
    # When the counts are read
    counts = live_counts(app)
    # Then they are exact
    assert counts["jobs"] == {"queued": 3, "running": 1, "retrying": 1, "succeeded": 1,
                              "failed": 0, "cancelled": 0, "lost": 0}
    assert counts["by_type"] == {"ingest": {"queued": 2, "running": 1, "retrying": 0},
                                 "report": {"queued": 1, "running": 0, "retrying": 1}}


def test_queues_reads_depth_from_redis_lists_priority_sub_lists_included(app: Celery) -> None:
    # Given three messages on the default queue, one of them with a high priority, and a
    # tracked job published to a queue no configuration names
    started = time.time()
    app.tasks["t.add"].delay(1, 2)
    app.tasks["t.add"].apply_async((1, 2), priority=9)
    app.tasks["t.total"].delay([1])
    other = f"{app.conf.task_default_queue}-other"
    app.tasks["t.add"].apply_async((3, 4), queue=other)
    assert get_tracker(app).flush()
    # When the queues are read
    rows = by_name(app)
    # Then the depths are the broker's, and the waits those of the oldest queued jobs
    default = rows[app.conf.task_default_queue]
    assert default["depth"] == 3
    assert isinstance(default["oldest_wait_s"], float)
    assert 0 <= default["oldest_wait_s"] <= time.time() - started + 0.01
    assert rows[other]["depth"] == 1 and rows[other]["oldest_wait_s"] is not None
    assert rows["regiq.alerts"] == {"name": "regiq.alerts", "depth": 0, "oldest_wait_s": None,
                                    "consumers": rows["regiq.alerts"]["consumers"]}


def test_redis_consumers_come_from_the_workers_active_queues(app: Celery) -> None:
    queue = app.conf.task_default_queue
    # Nobody consumes yet: once the first broadcast answered, the count is 0
    by_name(app)
    wait_for(lambda: by_name(app)[queue]["consumers"] == 0, 10, "consumers 0")
    with thread_worker(app):
        # refreshed in the background every CONSUMERS_TTL seconds
        wait_for(lambda: by_name(app)[queue]["consumers"] == 1, CONSUMERS_TTL + 10,
                 "the worker to show as a consumer")


def _nothing() -> None:
    """A forked process's body: kombu's after-fork cleanup has run by then."""


def test_a_process_forked_after_a_consumer_count_leaves_the_next_counts_right(
        app: Celery) -> None:
    """The count is a broadcast whose wait for replies ends by timeout. On a pooled
    connection that wait's BRPOP would stay outstanding, and kombu's after-fork cleanup in
    a forked process (a worker replacing a pool process) reads its reply from the socket
    the two processes share: this process's later counts would hear no worker again."""
    queue = app.conf.task_default_queue
    cache = consumer_cache(app)

    def consumers() -> int | None:
        cache.refresh()
        counts = cache.get()
        return None if counts is None else counts.get(queue, 0)

    with thread_worker(app):
        wait_for(lambda: consumers() == 1, 20, "the worker to show as a consumer")
        child = billiard.Process(target=_nothing)
        child.start()
        child.join(10)
        try:
            assert child.exitcode == 0, "the forked process did not get through its start"
        finally:
            if child.is_alive():
                child.kill()
                child.join(10)
        assert [consumers() for _ in range(3)] == [1, 1, 1]


def test_routed_queues_follow_the_configuration(app: Celery) -> None:
    app.conf.task_queues = [Queue("heavy"), Queue("light")]
    app.conf.task_routes = ({"regiq_tasks.alerts.*": {"queue": "regiq.alerts"}},
                            {"pipeline.report": "reports", "pipeline.x": {"queue": Queue("x")}},
                            lambda *a, **k: None)
    assert routed_queues(app.conf) == [app.conf.task_default_queue, "heavy", "light",
                                       "regiq.alerts", "reports", "x"]


@pytest.fixture
def rabbit_app(make_app: Callable[..., Celery], broker_url: str | None) -> Celery:
    """A test app with RabbitMQ as its broker (its queues deleted afterwards)."""
    return make_app()


@pytest.mark.parametrize("broker", ["rabbitmq"], indirect=True)
def test_queues_reads_depth_and_consumers_from_rabbitmq(
        rabbit_app: Celery, prefork_worker: Callable[..., PreforkWorker]) -> None:
    app = rabbit_app
    queue = app.conf.task_default_queue
    assert by_name(app)[queue] == {"name": queue, "depth": 0, "oldest_wait_s": None,
                                   "consumers": 0}  # not declared yet
    for _ in range(3):
        app.tasks["t.add"].delay(1, 2)
    assert get_tracker(app).flush()
    wait_for(lambda: by_name(app)[queue]["depth"] == 3, 10, "RabbitMQ to count 3 messages")
    assert by_name(app)[queue]["oldest_wait_s"] is not None
    prefork_worker(app)  # on the app's broker, RabbitMQ
    wait_for(lambda: by_name(app)[queue]["consumers"] == 1, 20, "one consumer")
    wait_for(lambda: by_name(app)[queue]["depth"] == 0, 20, "the worker to drain it")


def test_a_broker_that_cannot_be_reached_leaves_depth_and_consumers_null(
        make_app: Callable[..., Celery]) -> None:
    app = make_app(broker_url="redis://127.0.0.1:9/0")  # nothing listens on port 9
    started = time.monotonic()
    rows = queues(app)
    assert time.monotonic() - started < 3  # one connection attempt, no retries
    assert rows and all(r["depth"] is None and r["consumers"] is None for r in rows)


def test_snapshot_gives_counts_and_queues_from_one_read(app: Celery) -> None:
    app.tasks["t.add"].delay(1, 2)
    assert get_tracker(app).flush()
    document = snapshot(app)
    assert document["jobs"]["queued"] == 1
    assert document["by_type"] == {"ingest": {"queued": 1, "running": 0, "retrying": 0}}
    row = next(r for r in document["queues"] if r["name"] == app.conf.task_default_queue)
    assert row["depth"] == 1 and row["oldest_wait_s"] is not None
