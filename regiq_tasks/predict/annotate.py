"""Predictions added to job records and pipelines by the readers (``get_job``,
``list_jobs``, ``get_pipeline``): no write, one aggregate read per :data:`STATS_TTL`.

A record gains ``eta_basis``, ``predicted_start_at`` and ``slow`` (DESIGN.md):

- running: ``eta_seconds`` is the job's own progress ETA where it reports one
  (``eta_basis: "progress"``), else its type's conditional median remaining time
  (``"history"``); ``slow`` once it has run past :func:`~regiq_tasks.predict.model.
  slow_threshold` (``expected_duration`` where set, else its type's 7-day p99 once the
  type has ``REGIQ_SLOW_MIN_RUNS`` runs);
- queued: ``predicted_start_at`` from the jobs ahead of it in its queue, the queue's
  slots and the jobs running on them; ``eta_seconds`` is the time until it is done (that
  wait plus its type's p50), ``eta_basis: "history"``;
- retrying: ``eta_seconds`` is its type's p50 (the countdown is not counted);
- anything else: null, null, false.

Listings of queued jobs add one read of the live indexes (``queues.read_live``).
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError

from regiq_tasks.errors import StoreUnavailable
from regiq_tasks.predict.model import (
    FINAL,
    Range,
    TypeStats,
    graph_remaining,
    is_slow,
    planned_range,
    remaining_range,
    slow_threshold,
    start_wait,
)
from regiq_tasks.predict.queues import LiveJobs, Running, queue_slots, read_live
from regiq_tasks.predict.stats import STATS_TTL, type_stats
from regiq_tasks.store.record import iso
from regiq_tasks.tracking.tracker import Tracker

logger = logging.getLogger(__name__)
__all__ = ["STATS_TTL", "annotate_jobs", "annotate_pipeline"]
PROGRESS, HISTORY = "progress", "history"
_ACTIVE = ("queued", "running", "retrying")
_PENDING = "pending"


@dataclass
class Context:
    """What the predictions of one read share."""

    now: float
    stats: dict[str, TypeStats]
    live: LiveJobs | None
    slots: dict[str, int | None]
    min_runs: int
    margin: float

    def p50(self, job_type: str | None) -> float:
        """A type's p50, else the median p50 of the known types, else 0."""
        found = self.stats.get(job_type or "")
        if found is not None and found.p50:
            return found.p50
        known = [s.p50 for s in self.stats.values() if s.p50]
        return statistics.median(known) if known else 0.0


def _epoch(text: str | None) -> float | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else None


def _running_range(job: Mapping[str, Any], ctx: Context) -> tuple[Range | None, str | None]:
    started = _epoch(job.get("started_at"))
    if job.get("eta_seconds") is not None and job.get("progress"):
        eta = float(job["eta_seconds"])
        return (eta, eta), PROGRESS
    elapsed = ctx.now - started if started is not None else 0.0
    found = remaining_range(ctx.stats.get(job.get("type") or ""), max(0.0, elapsed))
    return found, HISTORY if found else None


def _busy(running: Running, ctx: Context) -> float:
    """Seconds until a running job frees its slot."""
    if running.eta_seconds is not None:
        return running.eta_seconds
    elapsed = ctx.now - running.started_at if running.started_at else 0.0
    found = remaining_range(ctx.stats.get(running.type), max(0.0, elapsed))
    return found[0] if found else ctx.p50(running.type)


def _wait(job: Mapping[str, Any], ctx: Context) -> float | None:
    """Seconds until a queued job starts (None: no slot serves its queue, or unknown)."""
    live, queue = ctx.live, job.get("queue") or ""
    rank = live.ranks.get(job["id"]) if live else None
    if live is None or rank is None:
        return None
    busy = [_busy(r, ctx) for r in live.running if r.queue == queue]
    slots = ctx.slots.get(queue)
    if slots == 0 and not busy:  # jobs running on it prove a consumer the count missed
        return None
    sample = live.queued[:rank]
    ahead = [ctx.p50(q.type) for q in sample if q.queue == queue]
    if rank > len(sample) and sample:  # further back than the read: like the jobs read
        ahead = [d * rank / len(sample) for d in ahead]
    return start_wait(ahead, busy, slots or len(busy) or 1)


def _predict(job: dict[str, Any], ctx: Context) -> Range | None:
    """Fill one active job's predictions; returns its remaining (p50, p90) seconds."""
    stats = ctx.stats.get(job.get("type") or "")
    if job["status"] == "running":
        found, job["eta_basis"] = _running_range(job, ctx)
        if found is not None:
            job["eta_seconds"] = round(found[0], 3)
        started = _epoch(job.get("started_at"))
        threshold = slow_threshold(stats, job.get("expected_duration"), ctx.min_runs,
                                   ctx.margin)
        job["slow"] = is_slow(ctx.now - started if started else None, threshold)
        return found
    typical = (stats.p50, stats.p90 or stats.p50) if stats and stats.p50 else None
    wait = _wait(job, ctx) if job["status"] == "queued" else 0.0
    if job["status"] == "queued" and wait is not None:
        job["predicted_start_at"] = iso(ctx.now + wait)
    if typical is None or wait is None:
        return None
    job["eta_seconds"], job["eta_basis"] = round(wait + typical[0], 3), HISTORY
    return wait + typical[0], wait + typical[1]


def _context(tracker: Tracker, jobs: list[dict[str, Any]], now: float | None) -> Context:
    queued = [j["id"] for j in jobs if j["status"] == "queued"]
    s = tracker.settings
    return Context(time.time() if now is None else now, type_stats(tracker),
                   read_live(tracker, queued) if queued else None,
                   queue_slots(tracker) if queued else {}, s.slow_min_runs, s.slow_margin)


def annotate_jobs(tracker: Tracker, records: Iterable[dict[str, Any] | None],
                  now: float | None = None) -> dict[str, Range]:
    """Add the predictions to ``records`` in place; returns each active job's remaining
    (p50, p90) seconds where known, by id."""
    jobs = [r for r in records if r is not None]
    for job in jobs:
        job.update(eta_basis=None, predicted_start_at=None, slow=False)
    active = [j for j in jobs if j.get("status") in _ACTIVE and j.get("id")]
    if not active:
        return {}
    try:
        ctx = _context(tracker, active, now)
    except (OSError, RedisError, StoreUnavailable):
        logger.warning("regiq: no predictions (cannot read the aggregates)", exc_info=True)
        return {}
    ranges = {j["id"]: _predict(j, ctx) for j in active}
    return {k: v for k, v in ranges.items() if v is not None}


def _step_range(step: Mapping[str, Any], ranges: Mapping[str, Range],
                stats: Mapping[str, TypeStats]) -> Range | None:
    if step["status"] in FINAL:
        return 0.0, 0.0
    if step["status"] == _PENDING:
        return planned_range(stats.get(step.get("type") or ""))
    return ranges.get(step.get("id") or "")


def annotate_pipeline(tracker: Tracker, pipeline: dict[str, Any],
                      now: float | None = None) -> dict[str, Any]:
    """Add the predictions to a pipeline's steps and ``eta_seconds``,
    ``predicted_finish_at`` and ``eta_range_s`` to the pipeline (null once it ended)."""
    now = time.time() if now is None else now
    steps = pipeline["jobs"]
    ranges = annotate_jobs(tracker, [s for s in steps if s.get("id")], now)
    for step in steps:
        step.setdefault("eta_basis", None)
        step.setdefault("predicted_start_at", None)
        step.setdefault("slow", False)
    found = None
    if pipeline["status"] in _ACTIVE:
        stats = type_stats(tracker)
        found = graph_remaining(pipeline.get("graph"), steps,
                                lambda step: _step_range(step, ranges, stats))
    pipeline["eta_seconds"] = round(found[0], 3) if found else None
    pipeline["predicted_finish_at"] = iso(now + found[0]) if found else None
    pipeline["eta_range_s"] = [round(found[0], 3), round(found[1], 3)] if found else None
    return pipeline
