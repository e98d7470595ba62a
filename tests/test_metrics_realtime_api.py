"""get_realtime() and GET /status/metrics/realtime: DESIGN.md's realtime document, from
real jobs run by a real worker."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from celery import Celery

from regiq_tasks import get_realtime
from regiq_tasks.monitor.api.realtime_schemas import RealtimeOut
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.live import LiveClient, ServedMonitor
from tests.fixtures.monitor import Monitor
from tests.fixtures.services import thread_worker
from tests.fixtures.waiting import wait_for

KEYS = {"at", "jobs", "by_type", "queues", "throughput", "workers"}
QUEUE_KEYS = {"name", "depth", "oldest_wait_s", "consumers"}


def run_and_queue(app: Celery) -> float:
    """Five jobs succeed and one fails on a worker; then two ingest and one total job are
    queued with no worker. Returns the time before the first job was published."""
    started = time.time()
    with thread_worker(app):
        done = [app.tasks["t.add"].delay(1, 2) for _ in range(4)]
        done.append(app.tasks["t.total"].delay([1]))
        failed = app.tasks["t.fail"].delay()
        for result in done:
            assert result.get(timeout=30) is not None
        wait_for(failed.ready, 30, "t.fail to fail")
        tracker = get_tracker(app)
        wait_for(lambda: tracker.flush() and tracker.redis.zcard(
            tracker.keys.index("status", "failed")) == 1, 30, "the failure recorded")
    for _ in range(2):
        app.tasks["t.add"].delay(1, 2)
    app.tasks["t.total"].delay([1])
    assert get_tracker(app).flush()
    return started


def check(document: dict[str, Any], app: Celery, started: float) -> None:
    assert set(document) == KEYS
    assert document["jobs"] == {"queued": 3, "running": 0, "retrying": 0, "succeeded": 5,
                                "failed": 1, "cancelled": 0, "lost": 0}
    assert document["by_type"] == {"ingest": {"queued": 2, "running": 0, "retrying": 0},
                                   "total": {"queued": 1, "running": 0, "retrying": 0}}
    assert all(set(q) == QUEUE_KEYS for q in document["queues"])
    default = next(q for q in document["queues"] if q["name"] == app.conf.task_default_queue)
    assert default["depth"] == 3
    assert 0 <= default["oldest_wait_s"] <= time.time() - started + 0.01
    throughput = document["throughput"]
    assert throughput["finished_60s"] == 6
    assert throughput["per_s"] == 0.1
    assert throughput["finished_10s"] <= 6
    assert document["workers"] == []
    assert document["at"].endswith("Z")


def test_get_realtime_counts_real_jobs_by_status_type_queue_and_throughput(
        app: Celery) -> None:
    started = run_and_queue(app)
    check(get_realtime(app), app, started)


def test_the_endpoint_answers_the_same_document(app: Celery) -> None:
    started = run_and_queue(app)
    document = Monitor(app).json("/status/metrics/realtime")
    check(document, app, started)
    assert RealtimeOut().validate(document) == {}


def test_the_endpoint_is_documented(app: Celery) -> None:
    spec = Monitor(app).json("/openapi.json")
    operation = spec["paths"]["/status/metrics/realtime"]["get"]
    assert {"200", "401", "403", "503"} <= set(operation["responses"])
    assert operation["security"]
    schema = spec["components"]["schemas"]["RealtimeOut"]
    assert set(schema["properties"]) == KEYS
    assert set(schema["required"]) == KEYS


def test_the_endpoint_answers_503_when_redis_is_down(make_app: Callable[..., Celery]) -> None:
    app = make_app(redis_url="redis://127.0.0.1:9/0", redis_timeout=0.5)
    response = Monitor(app).get("/status/metrics/realtime")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "unavailable"


def test_the_socketio_metrics_event_carries_the_same_document(
        app: Celery, served_monitor: Callable[..., ServedMonitor],
        live_client: Callable[[], LiveClient]) -> None:
    # Given real jobs run and queued, and a client of a served monitor (no subscription)
    started = run_and_queue(app)
    client = live_client().connect(served_monitor(REGIQ_LIVE_METRICS_INTERVAL=0.2).url)

    # When a metrics event arrives after the jobs, it is the realtime document
    def latest() -> Any:
        events = client.received("metrics")
        return events and events[-1]["jobs"]["queued"] == 3 and events[-1]

    document = wait_for(latest, 15, "a metrics event with the queued jobs")
    check(document, app, started)
    assert RealtimeOut().validate(document) == {}
