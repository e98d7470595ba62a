"""GET /metrics: the exposition, its auth, promtool, and a real Prometheus scraping it."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from celery import Celery
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry

from regiq_tasks import get_job
from regiq_tasks.alerts.models import Severity
from regiq_tasks.alerts.rules import AlertDraft
from regiq_tasks.alerts.store import raise_alert
from regiq_tasks.metrics.histogram import Histogram, HistogramKind, field_name
from regiq_tasks.metrics.prometheus import cumulative_metrics
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.live import ServedMonitor
from tests.fixtures.monitor import TOKENS, Monitor
from tests.fixtures.prometheus import PrometheusServer, promtool, samples
from tests.fixtures.services import thread_worker
from tests.fixtures.waiting import wait_for


def publish(app: Celery, ingest: int = 2, total: int = 1) -> None:
    """Queue tracked jobs on the test queue (no worker runs them) and flush their records."""
    for _ in range(ingest):
        app.tasks["t.add"].delay(1, 2)
    for _ in range(total):
        app.tasks["t.total"].delay([1])
    assert get_tracker(app).flush()


def test_metrics_count_live_jobs_queues_backlog_and_alerts(app: Celery) -> None:
    # Given two queued ingest jobs and one queued total job, and one open HIGH alert
    publish(app)
    raise_alert(get_tracker(app).engine, AlertDraft(
        rule="job_failed", severity=Severity.HIGH, fingerprint="f1", subject="ingest",
        title="ingest failed", details={}))
    # When Prometheus would scrape
    response = Monitor(app).get("/metrics")
    # Then every family holds what the stores hold
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    got = samples(response.data)
    queue = app.conf.task_default_queue
    assert got[("regiq_live_jobs", (("status", "queued"), ("type", "ingest")))] == 2
    assert got[("regiq_live_jobs", (("status", "queued"), ("type", "total")))] == 1
    assert got[("regiq_live_jobs", (("status", "queued"), ("type", "")))] == 0
    assert got[("regiq_live_jobs", (("status", "succeeded"), ("type", "")))] == 0
    assert got[("regiq_queue_depth", (("queue", queue),))] == 3
    assert got[("regiq_queue_depth", (("queue", "regiq.alerts"),))] == 0
    assert 0 <= got[("regiq_queue_oldest_wait_seconds", (("queue", queue),))] < 60
    assert got[("regiq_archive_backlog", ())] == 0
    assert got[("regiq_alerts_open", (("severity", "HIGH"),))] == 1
    assert got[("regiq_alerts_open", (("severity", "LOW"),))] == 0


def test_promtool_finds_nothing_to_complain_about(app: Celery) -> None:
    publish(app)
    body = Monitor(app).get("/metrics").data
    checked = promtool(body)
    assert checked.returncode == 0 and not checked.stdout and not checked.stderr, checked


def test_metrics_need_a_token_and_answer_401_in_the_error_shape(app: Celery) -> None:
    monitor = Monitor(app)
    for who in ({"role": None}, {"token": "not-a-token"}):
        response = monitor.get("/metrics", **who)
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "unauthorized"


def test_metrics_answer_503_when_redis_is_down(make_app: Callable[..., Celery]) -> None:
    app = make_app(redis_url="redis://127.0.0.1:9/0", redis_timeout=0.5)
    response = Monitor(app).get("/metrics")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "unavailable"


def test_openapi_documents_metrics_as_text(app: Celery) -> None:
    spec = Monitor(app).json("/openapi.json")
    operation = spec["paths"]["/metrics"]["get"]
    assert "text/plain" in operation["responses"]["200"]["content"]
    assert {"401", "403"} <= set(operation["responses"])
    assert operation["security"]


def cumulative_fields(durations: list[float], waits: list[float]) -> dict[str, str]:
    """A cumulative hash as ``record_metrics`` lays it out (n:<outcome>, d:<i>, w:<i>, and
    ds, ws: sums in integer µs)."""
    fields = {"n:succeeded": str(len(durations) - 1), "n:failed": "1",
              "ds": str(round(math.fsum(durations) * 1e6)),
              "ws": str(round(math.fsum(waits) * 1e6))}
    for kind, values in ((HistogramKind.DURATION, durations), (HistogramKind.WAIT, waits)):
        for index, count in Histogram.of(values).counts.items():
            fields[field_name(kind, index)] = str(count)
    return fields


def test_cumulative_hashes_become_a_counter_and_two_histograms() -> None:
    durations, waits = [0.02, 0.3, 0.3, 4.0, 120.0], [0.001, 0.002, 0.5, 0.5, 7.0]
    registry = CollectorRegistry(auto_describe=False)

    class Fixed:
        def collect(self) -> Any:
            return cumulative_metrics({"ingest": cumulative_fields(durations, waits)})

    registry.register(Fixed())  # type: ignore[arg-type]
    body = generate_latest(registry)
    got = samples(body)
    ingest = ("type", "ingest")
    assert got[("regiq_jobs_total", (("status", "succeeded"), ingest))] == 4
    assert got[("regiq_jobs_total", (("status", "failed"), ingest))] == 1
    assert got[("regiq_job_duration_seconds_bucket", (("le", "0.25"), ingest))] == 1
    assert got[("regiq_job_duration_seconds_bucket", (("le", "0.5"), ingest))] == 3
    assert got[("regiq_job_duration_seconds_bucket", (("le", "+Inf"), ingest))] == 5
    assert got[("regiq_job_duration_seconds_count", (ingest,))] == 5
    assert math.isclose(got[("regiq_job_duration_seconds_sum", (ingest,))], 124.62)
    assert got[("regiq_job_queue_wait_seconds_bucket", (("le", "0.005"), ingest))] == 2
    assert math.isclose(got[("regiq_job_queue_wait_seconds_sum", (ingest,))], 8.003)
    assert promtool(body).returncode == 0


def test_finished_jobs_feed_the_cumulative_families(app: Celery, worker: Any) -> None:
    # Given three ingest jobs and one total job that succeeded, one job that failed
    results = [app.tasks["t.add"].delay(1, 2) for _ in range(3)]
    results.append(app.tasks["t.total"].delay([1]))
    failed = app.tasks["t.fail"].delay()
    for result in results:
        assert result.get(timeout=30) is not None
    for result in [*results, failed]:  # the result backend knows before the store does
        wait_for(lambda r=result: (get_job(r.id, app=app) or {}).get("status")
                 in ("succeeded", "failed"), 30, "the job's final record")
    # When Prometheus would scrape
    body = Monitor(app).get("/metrics").data
    got = samples(body)
    # Then the counter and the histograms hold the finished jobs, by type
    ingest, total, untyped = ("type", "ingest"), ("type", "total"), ("type", "fail")
    assert got[("regiq_jobs_total", (("status", "succeeded"), ingest))] == 3
    assert got[("regiq_jobs_total", (("status", "failed"), ingest))] == 0
    assert got[("regiq_jobs_total", (("status", "succeeded"), total))] == 1
    assert got[("regiq_jobs_total", (("status", "failed"), untyped))] == 1
    assert got[("regiq_job_duration_seconds_count", (ingest,))] == 3
    assert got[("regiq_job_queue_wait_seconds_count", (ingest,))] == 3
    assert 0 < got[("regiq_job_duration_seconds_sum", (ingest,))] < 30
    assert 0 < got[("regiq_job_queue_wait_seconds_sum", (ingest,))] < 90
    assert ("regiq_jobs_total", (("status", "succeeded"), ("type", "all"))) not in got
    checked = promtool(body)
    assert checked.returncode == 0 and not checked.stdout and not checked.stderr, checked


def test_a_real_prometheus_scrapes_the_monitor_with_a_bearer_token(
        app: Celery, served_monitor: Callable[..., ServedMonitor],
        prometheus_server: Callable[[str, str], PrometheusServer]) -> None:
    # Given queued jobs, a monitor process and Prometheus scraping it every second
    publish(app)
    monitor = served_monitor()
    prometheus = prometheus_server(f"127.0.0.1:{monitor.port}", TOKENS["viewer"])
    queue = app.conf.task_default_queue

    # When Prometheus has scraped, its query API answers with our series
    def live() -> dict[str, float]:
        result = prometheus.query('regiq_live_jobs{status="queued",type!=""}')
        return {r["metric"]["type"]: float(r["value"][1]) for r in result}

    def health() -> Any:
        return [(t["health"], t["lastError"]) for t in prometheus.targets()]

    wait_for(lambda: live() == {"ingest": 2.0, "total": 1.0}, 30,
             "Prometheus to hold regiq_live_jobs")
    depth = prometheus.query(f'regiq_queue_depth{{queue="{queue}"}}')
    assert [float(r["value"][1]) for r in depth] == [3.0]
    assert health() == [("up", "")]

    # And when a worker runs them, Prometheus holds the counters (a series' first sample
    # has no rate: a rate needs the counter to rise while Prometheus watches it)
    def totals() -> dict[str, float]:
        result = prometheus.query('regiq_jobs_total{status="succeeded"}')
        return {r["metric"]["type"]: float(r["value"][1]) for r in result}

    tracker = get_tracker(app)
    succeeded = tracker.keys.index("status", "succeeded")
    with thread_worker(app):
        wait_for(lambda: tracker.redis.zcard(succeeded) == 3, 60, "the three jobs to succeed")
        wait_for(lambda: totals() == {"ingest": 2.0, "total": 1.0}, 30,
                 "Prometheus to hold regiq_jobs_total")
        # then more jobs finish
        publish(app, ingest=3, total=2)
        wait_for(lambda: tracker.redis.zcard(succeeded) == 8, 60, "five more to succeed")

    def rates() -> dict[tuple[str, str], float]:
        result = prometheus.query("rate(regiq_jobs_total[1m])")
        return {(r["metric"]["type"], r["metric"]["status"]): float(r["value"][1])
                for r in result}

    def p95() -> dict[str, float]:
        result = prometheus.query("histogram_quantile(0.95, sum by (le, type) "
                                  "(rate(regiq_job_duration_seconds_bucket[1m])))")
        return {r["metric"]["type"]: float(r["value"][1]) for r in result}

    wait_for(lambda: all(rates().get((t, "succeeded"), 0) > 0 for t in ("ingest", "total")),
             60, "Prometheus to see regiq_jobs_total rise")
    assert set(rates()) == {(t, s) for t in ("ingest", "total")
                            for s in ("succeeded", "failed", "cancelled", "lost")}
    assert all(rates()[(t, "failed")] == 0 for t in ("ingest", "total"))
    wait_for(lambda: set(p95()) == {"ingest", "total"}
             and all(0 < v < 10 for v in p95().values()), 60,
             "a p95 duration per type")


def test_live_jobs_past_the_scan_cap_count_under_an_empty_type(
        app: Celery, monkeypatch: Any) -> None:
    # Given three queued jobs and a scan that reads the type of two per status
    from regiq_tasks.metrics import realtime

    monkeypatch.setattr(realtime, "TYPE_SCAN_CAP", 2)
    publish(app, ingest=3, total=0)
    got = samples(Monitor(app).get("/metrics").data)
    # Then the per-type series and the untyped rest still add up to the status's size
    assert got[("regiq_live_jobs", (("status", "queued"), ("type", "ingest")))] == 2
    assert got[("regiq_live_jobs", (("status", "queued"), ("type", "")))] == 1
