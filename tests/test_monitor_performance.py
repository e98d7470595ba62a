"""``GET /status/metrics/performance``: the document, its validation and its spec."""

from __future__ import annotations

import time

import pytest
from celery import Celery

from regiq_tasks.store import Change
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.monitor import Monitor


@pytest.fixture
def monitor(app: Celery) -> Monitor:
    return Monitor(app)


def test_the_endpoint_answers_the_document_of_design_md(monitor: Monitor, app: Celery) -> None:
    store = get_tracker(app).store
    now = time.time()
    store.apply(Change("a", "queued", fill={"type": "ingest", "created_at": now - 1}))
    store.apply(Change("a", "running", set={"started_at": now - 0.5}))
    store.apply(Change("a", "succeeded", set={"finished_at": now}))
    doc = monitor.json("/status/metrics/performance", window="1h")
    assert set(doc) == {"window", "from", "to", "step_s", "totals", "types", "series"}
    assert doc["window"] == "1h" and doc["step_s"] == 60
    assert [t["type"] for t in doc["types"]] == ["ingest"]
    entry = doc["types"][0]
    assert {"count", "succeeded", "failed", "cancelled", "lost", "retried", "success_rate",
            "throughput_per_min", "published", "published_per_min", "duration_s",
            "queue_wait_s", "cpu_time_s_mean",
            "peak_rss_bytes_max", "type"} == set(entry)
    assert set(entry["duration_s"]) == {"mean", "p50", "p90", "p95", "p99", "max"}
    assert set(entry["queue_wait_s"]) == {"mean", "p50", "p95", "p99", "max"}
    assert entry["count"] == 1 and entry["duration_s"]["p50"] == pytest.approx(0.5, rel=0.07)
    assert monitor.json("/status/metrics/performance", type="ingest")[
        "totals"]["succeeded"] == 1


@pytest.mark.parametrize(("query", "name"), [
    ({"window": "4m"}, "window"), ({"window": "99d"}, "window"), ({"window": "1y"}, "window"),
    ({"window": ""}, "window"), ({"type": ""}, "type"),
    ({"type": "a", "queue": "b"}, "queue")])
def test_bad_parameters_are_400_naming_them(monitor: Monitor, query: dict[str, str],
                                             name: str) -> None:
    response = monitor.get("/status/metrics/performance", query=query)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "details"} and name in str(error["details"])


def test_the_spec_documents_the_route_and_its_shape(monitor: Monitor) -> None:
    spec = monitor.json("/openapi.json")
    operation = spec["paths"]["/status/metrics/performance"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"window", "type", "queue"}
    out = spec["components"]["schemas"]["PerformanceOut"]["properties"]
    assert {"window", "from", "to", "step_s", "totals", "types", "series"} == set(out)


def test_the_answer_validates_against_its_documented_schema(monitor: Monitor,
                                                            app: Celery) -> None:
    from regiq_tasks.monitor.api.performance_schemas import PerformanceOut

    store = get_tracker(app).store
    now = time.time()
    for job_type, status in (("ingest", "succeeded"), ("parse", "failed")):
        store.apply(Change(job_type, "queued", fill={"type": job_type, "created_at": now}))
        store.apply(Change(job_type, "running", set={"started_at": now}))
        store.apply(Change(job_type, status, set={"finished_at": now + 1}))
    doc = monitor.json("/status/metrics/performance", window="2h")
    assert PerformanceOut().validate(doc) == {}
    assert PerformanceOut().dump(PerformanceOut().load(doc)) == doc
