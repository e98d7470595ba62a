"""The running jobs that are slow now, from one bounded read (``job_slow``, ``regiq top``)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from regiq_tasks.predict.model import is_slow, slow_threshold
from regiq_tasks.predict.queues import Running, read_live
from regiq_tasks.predict.stats import type_stats
from regiq_tasks.tracking.tracker import Tracker


@dataclass(frozen=True, slots=True)
class SlowJob:
    """A running job past its threshold: how long it has run, the threshold, the runs
    of its type behind the threshold (0 when it is the job's ``expected_duration``)."""

    job: Running
    elapsed: float
    threshold: float
    runs: int


def slow_running(tracker: Tracker, now: float | None = None) -> list[SlowJob]:
    """The running jobs (at most ``queues.SCAN_CAP``) past their slow threshold."""
    s, now = tracker.settings, time.time() if now is None else now
    stats = type_stats(tracker)
    found = []
    for job in read_live(tracker, fresh=True).running:  # the alert watch: as it is now
        kind = stats.get(job.type)
        threshold = slow_threshold(kind, job.expected_duration, s.slow_min_runs,
                                   s.slow_margin)
        elapsed = now - job.started_at if job.started_at else None
        if elapsed is not None and threshold is not None and is_slow(elapsed, threshold):
            runs = 0 if job.expected_duration or kind is None else kind.runs
            found.append(SlowJob(job, elapsed, threshold, runs))
    return found
