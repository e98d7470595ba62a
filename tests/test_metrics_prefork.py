"""Known jobs on a real prefork worker in, exact counts and percentiles within 10% out.

The expected percentiles are exact nearest-rank ones computed from the jobs' own records
(``get_job``'s ``duration_s`` and ``queue_wait_s``), compared with what
``GET /status/metrics/performance`` answers from the counters apply.lua kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from celery import Celery

from regiq_tasks import get_job
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.monitor import Monitor
from tests.fixtures.waiting import wait_for

FINAL = {"succeeded", "failed", "cancelled", "lost"}
SLEEPS = [round(0.05 + i * (0.55 / 19), 3) for i in range(20)]  # 0.05 .. 0.6 s


def exact(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile: the ``ceil(q * n)``-th smallest value."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(round(q * len(ordered), 9))) - 1]


def finished_records(app: Celery, ids: list[str]) -> list[dict[str, Any]]:
    def all_final() -> bool:
        return all((get_job(i, app=app) or {}).get("status") in FINAL for i in ids)
    wait_for(all_final, 60, "every job to reach a final status")
    return [get_job(i, app=app) or {} for i in ids]


def test_known_jobs_give_exact_counts_and_percentiles_within_10_percent(
        app: Celery, prefork_worker: Callable[..., Any]) -> None:
    prefork_worker(app)
    tracker = get_tracker(app)
    # the worker's snapshot duty has copied the (empty) counters: the window starts there
    wait_for(lambda: tracker.redis.zcard(tracker.keys.metrics_snapshots("m")) > 0, 20,
             "the first minute snapshot")
    sleeps = [app.tasks["t.sleep"].delay(s).id for s in SLEEPS]
    fails = [app.tasks["t.fail"].delay().id for _ in range(3)]
    killed = app.tasks["t.killself"].delay().id
    flaky = app.tasks["t.flaky"].delay(1).id
    records = finished_records(app, [*sleeps, *fails, killed, flaky])
    doc = Monitor(app).json("/status/metrics/performance", window="5m")
    by_type = {t["type"]: t for t in doc["types"]}

    assert doc["totals"]["count"] == 25 and doc["totals"]["lost"] == 1
    assert (by_type["sleep"]["count"], by_type["sleep"]["succeeded"]) == (20, 20)
    assert (by_type["fail"]["failed"], by_type["fail"]["success_rate"]) == (3, 0.0)
    assert (by_type["killself"]["count"], by_type["killself"]["lost"]) == (1, 1)
    assert (by_type["flaky"]["retried"], by_type["flaky"]["succeeded"]) == (1, 1)

    durations = [r["duration_s"] for r in records[:20]]
    waits = [r["queue_wait_s"] for r in records[:20]]
    got = by_type["sleep"]
    for name, q in {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99, "max": 1.0}.items():
        assert got["duration_s"][name] == pytest.approx(exact(durations, q), rel=0.1), name
    for name, q in {"p50": 0.5, "p95": 0.95, "p99": 0.99, "max": 1.0}.items():
        assert got["queue_wait_s"][name] == pytest.approx(exact(waits, q), rel=0.1,
                                                          abs=1e-4), name
    assert got["duration_s"]["mean"] == pytest.approx(sum(durations) / 20, rel=1e-4)
    assert got["cpu_time_s_mean"] is not None and got["peak_rss_bytes_max"] > 1_000_000
    one = by_type["killself"]["duration_s"]
    assert one["p50"] == one["p99"] == pytest.approx(records[23]["duration_s"], rel=0.07)
    finished = sum(p["finished"] or 0 for p in doc["series"])
    assert finished == 25
