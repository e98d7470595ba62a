"""Predictions from history: the arithmetic on plain numbers, then the records, the
pipeline and the ``job_slow`` alert over aggregates seeded through the store's own Lua
path (no worker: predictions are computed by readers from what the metrics keep)."""

from __future__ import annotations

import json
import math
import time
from datetime import datetime
from typing import Any

import pytest
from celery import Celery

from regiq_tasks import get_job, get_pipeline, list_jobs
from regiq_tasks.alerts.slow_rules import slow_jobs
from regiq_tasks.alerts.watch import watch
from regiq_tasks.predict.model import (
    TypeStats,
    graph_remaining,
    is_slow,
    remaining_range,
    slow_threshold,
    start_wait,
)
from regiq_tasks.predict.stats import Cached, per_tracker
from regiq_tasks.store import Change, LiveStore
from regiq_tasks.tracking.tracker import Tracker, get_tracker
from tests.fixtures.monitor import Monitor

STATS = TypeStats(runs=100, p50=10.0, p90=20.0, p99=40.0)


# --- the arithmetic ------------------------------------------------------------------


def test_a_run_not_started_needs_its_p50_and_p90_and_the_rest_shrinks_but_stays_positive():
    assert remaining_range(STATS, 0.0) == pytest.approx((10.0, 20.0), rel=1e-6)
    at5, at10, at30 = (remaining_range(STATS, t) for t in (5.0, 10.0, 30.0))
    assert at5 is not None and at10 is not None and at30 is not None
    assert 5.0 < at5[0] < 10.0  # past 5 s the median run has more than 5 s to go
    assert at10[0] < at5[0] + 5 and at30[0] > 0  # a long run is never "due now"
    assert all(low < high for low, high in (at5, at10, at30))
    assert remaining_range(TypeStats(3, None, None, None), 1.0) is None


def test_a_queue_places_the_jobs_ahead_on_the_slot_free_first():
    # Slots free at 3 s and 5 s; three 4 s jobs ahead go at 3, 5 and 7 s.
    assert start_wait([4.0, 4.0, 4.0], [3.0, 5.0], slots=2) == 9.0
    assert start_wait([], [3.0, 5.0], slots=3) == 0.0  # an idle slot: starts now
    assert start_wait([2.0] * 10, [], slots=5) == 4.0


def test_a_pipeline_adds_its_chain_and_waits_for_the_slowest_member_of_a_group():
    steps = [{"r": (0.0, 0.0)}, {"r": (10.0, 15.0)}, {"r": (30.0, 50.0)}, {"r": (5.0, 8.0)}]
    graph = {"kind": "chain", "steps": [
        {"kind": "task", "job": 0},
        {"kind": "group", "members": [{"kind": "task", "job": 1}, {"kind": "task", "job": 2}]},
        {"kind": "chord", "header": [{"kind": "task", "job": 3}], "body": {"kind": "task",
                                                                            "job": 3}}]}
    assert graph_remaining(graph, steps, lambda s: s["r"]) == (40.0, 66.0)
    steps[3] = {"r": None}  # a step nothing is known about: no ETA rather than a wrong one
    assert graph_remaining(graph, steps, lambda s: s["r"]) is None


def test_slow_is_past_the_expected_duration_where_set_else_the_learned_p99():
    assert slow_threshold(STATS, None, min_runs=20) == 40.0
    assert slow_threshold(STATS, 100.0, min_runs=20) == 100.0  # the author's figure wins
    assert slow_threshold(TypeStats(19, 10.0, 20.0, 40.0), None, min_runs=20) is None
    assert slow_threshold(STATS, None, min_runs=20, margin=1.5) == 60.0
    assert is_slow(41.0, 40.0) and not is_slow(39.0, 40.0) and not is_slow(None, 40.0)
    assert not is_slow(1e9, None)


# --- records, pipelines and the alert over seeded aggregates ---------------------------


def seed(store: LiveStore, job_type: str, durations: list[float]) -> None:
    """Finished runs of ``job_type`` (the metric counters apply.lua keeps)."""
    now = time.time()
    for i, duration in enumerate(durations):
        job_id = f"{job_type}-done-{i}"
        store.apply(Change(job_id, "queued", fill={"type": job_type, "queue": "celery",
                                                   "created_at": now - duration - 1}))
        store.apply(Change(job_id, "running", set={"started_at": now - duration}))
        store.apply(Change(job_id, "succeeded", set={"finished_at": now,
                                                     "duration_s": duration}))


def start(store: LiveStore, job_id: str, job_type: str, running_for: float | None,
          created: float, **fields: Any) -> None:
    """A live job, queued (``running_for`` None) or running for that long."""
    store.apply(Change(job_id, "queued", fill={"type": job_type, "queue": "celery",
                                               "created_at": created, **fields}))
    if running_for is not None:
        store.apply(Change(job_id, "running", set={"started_at": time.time() - running_for}))


def pipeline_with_two_planned_steps(store: LiveStore, pid: str, now: float) -> None:
    """A chain of three ingest steps: the first running for 1 s, two not yet published."""
    plan = {"i": 0, "g": None, "c": None, "n": {"kind": "chain", "steps": [
        {"kind": "task", "id": pid, "name": "t.ingest", "type": "ingest"},
        {"kind": "task", "id": f"{pid}-2", "name": "t.ingest", "type": "ingest"},
        {"kind": "task", "id": f"{pid}-3", "name": "t.ingest", "type": "ingest"}]}}
    store.apply(Change(pid, "queued", pipeline_id=pid, plan=json.dumps(plan),
                       fill={"type": "ingest", "name": "t.ingest", "queue": "celery",
                             "pipeline_id": pid, "created_at": now - 5}))
    store.apply(Change(pid, "running", set={"started_at": now - 1}))


def fix_slots(tracker: Tracker, slots: dict[str, int | None]) -> None:
    """The queues' slots as the broker and worker samples would tell (no worker here)."""
    per_tracker(tracker, "slots", lambda: Cached(lambda: slots, 3600.0))


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.fixture
def seeded(app: Celery) -> Tracker:
    """ingest: 40 runs of 8..12 s (p50 ~10 s, p99 ~12 s); rare: 5 runs."""
    tracker = get_tracker(app)
    seed(tracker.store, "ingest", [8.0 + 4.0 * i / 39 for i in range(40)])
    seed(tracker.store, "rare", [1.0] * 5)
    return tracker


def test_running_jobs_get_a_history_eta_and_slow_past_the_p99(seeded: Tracker) -> None:
    now = time.time()
    start(seeded.store, "fresh", "ingest", 1.0, now - 2)
    start(seeded.store, "late", "ingest", 100.0, now - 101)
    start(seeded.store, "promised", "ingest", 100.0, now - 101, expected_duration=500.0)
    start(seeded.store, "unknown", "rare", 100.0, now - 101)
    jobs = {j["id"]: j for j in list_jobs(status="running", app=seeded.app)["items"]}
    fresh = jobs["fresh"]
    assert fresh["eta_basis"] == "history" and fresh["predicted_start_at"] is None
    assert fresh["eta_seconds"] == pytest.approx(9.0, abs=1.5) and fresh["slow"] is False
    assert jobs["late"]["slow"] is True  # 100 s against a p99 of ~12 s
    assert jobs["promised"]["slow"] is False  # its expected_duration (500 s) wins
    assert jobs["unknown"]["slow"] is False  # 5 runs: no learned p99 yet
    seeded.store.apply(Change("fresh", "", set={"progress_current": 1, "progress_total": 4,
                                                "eta_seconds": 3.0}))
    again = get_job("fresh", app=seeded.app)
    assert again is not None and again["eta_basis"] == "progress"
    assert again["eta_seconds"] == 3.0


def test_queued_jobs_start_when_the_jobs_ahead_leave_a_slot(seeded: Tracker) -> None:
    now = time.time()
    fix_slots(seeded, {"celery": 2})
    start(seeded.store, "r1", "ingest", 1.0, now - 30)
    start(seeded.store, "r2", "ingest", 1.0, now - 29)
    for i in range(3):
        start(seeded.store, f"q{i}", "ingest", None, now - 10 + i)
    before = time.time()
    jobs = {j["id"]: j for j in list_jobs(status="queued", app=seeded.app)["items"]}
    waits = [epoch(jobs[f"q{i}"]["predicted_start_at"]) - before for i in range(3)]
    # Both slots free after ~9 s (p50 ~10 s less the 1 s run); q2 waits for q0's 10 s.
    assert waits[0] == pytest.approx(9.0, abs=1.5) and waits[1] == pytest.approx(waits[0], abs=0.1)
    assert waits[2] == pytest.approx(19.0, abs=2.5)
    assert all(jobs[f"q{i}"]["eta_basis"] == "history" for i in range(3))
    assert jobs["q2"]["eta_seconds"] == pytest.approx(waits[2] + 10.0, abs=2.0)


def test_a_queue_nobody_consumes_predicts_no_start(seeded: Tracker) -> None:
    fix_slots(seeded, {"celery": 0})
    start(seeded.store, "stuck", "ingest", None, time.time())
    job = get_job("stuck", app=seeded.app)
    assert job is not None and job["predicted_start_at"] is None and job["eta_basis"] is None


def test_a_pipeline_is_done_after_its_running_step_and_its_planned_ones(
        seeded: Tracker) -> None:
    now, pid = time.time(), "pipe-1"
    pipeline_with_two_planned_steps(seeded.store, pid, now)
    before = time.time()
    doc = get_pipeline(pid, app=seeded.app)
    assert doc is not None and doc["total_jobs"] == 3
    low, high = doc["eta_range_s"]
    # ~9 s left of the first step, then two steps of p50 ~10 s (p90 ~11.6 s).
    assert doc["eta_seconds"] == pytest.approx(29.0, abs=3.0) and low == doc["eta_seconds"]
    assert high > low
    assert epoch(doc["predicted_finish_at"]) - before == pytest.approx(low, abs=1.0)
    seeded.store.apply(Change(pid, "failed", set={"finished_at": time.time()}))
    ended = get_pipeline(pid, app=seeded.app)
    assert ended is not None and ended["eta_seconds"] is None and ended["eta_range_s"] is None


def test_a_slow_job_raises_one_low_job_slow_alert_that_clears_when_it_ends(
        seeded: Tracker) -> None:
    now = time.time()
    start(seeded.store, "late", "ingest", 100.0, now - 101)
    start(seeded.store, "fine", "ingest", 1.0, now - 2)
    start(seeded.store, "promised", "ingest", 100.0, now - 101, expected_duration=50.0)
    first = watch(seeded, list(slow_jobs(seeded)))
    assert [(action, a["rule"], a["severity"], a["details"]["job_id"])
            for action, a in first] == [("raised", "job_slow", "LOW", "late")]
    assert math.isclose(first[0][1]["details"]["running_for_s"], 100.0, abs_tol=5)
    assert watch(seeded, list(slow_jobs(seeded))) == []  # one job, one alert
    seeded.store.apply(Change("late", "succeeded", set={"finished_at": time.time()}))
    resolved = watch(seeded, list(slow_jobs(seeded)))
    assert [(action, a["resolved_by"]) for action, a in resolved] == [("resolved", "auto")]


def test_the_rest_records_carry_the_predictions_and_the_spec_documents_them(
        seeded: Tracker) -> None:
    start(seeded.store, "late", "ingest", 100.0, time.time() - 101)
    monitor = Monitor(seeded.app)
    job = monitor.json("/status/jobs/late")
    assert job["slow"] is True and job["eta_basis"] == "history"
    assert monitor.json("/status/jobs", status="running")["items"][0]["slow"] is True
    spec = monitor.json("/openapi.json")["components"]["schemas"]
    assert {"eta_basis", "predicted_start_at", "slow"} <= set(spec["JobOut"]["properties"])
    assert {"eta_seconds", "predicted_finish_at", "eta_range_s"} <= set(
        spec["PipelineOut"]["properties"])


def test_regiq_top_counts_the_slow_running_jobs_of_each_type(seeded: Tracker) -> None:
    from regiq_tasks.cli.top import collect

    now = time.time()
    start(seeded.store, "late", "ingest", 100.0, now - 101)
    start(seeded.store, "fine", "ingest", 1.0, now - 2)
    rows = {row["type"]: row for row in collect(seeded.app, "5m")["types"]}
    assert (rows["ingest"]["running"], rows["ingest"]["slow"]) == (2, 1)
