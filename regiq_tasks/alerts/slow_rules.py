"""``job_slow``: a running job past its type's learned p99, read by the watch duty.

Every pass reads the running jobs (``predict.queues.read_live``: one bounded Lua call)
and the per-type 7-day percentiles (``predict.stats``, cached), and holds the condition
for each job the one rule of :func:`~regiq_tasks.predict.model.slow_threshold` calls
slow: past ``REGIQ_SLOW_MARGIN`` times its type's p99, the type having at least
``REGIQ_SLOW_MIN_RUNS`` runs. A job with ``expected_duration`` is left to
``job_overdue`` (its own threshold wins; one alert per cause). The fingerprint is the
job's id, so one job raises one alert (severity ``REGIQ_ALERT_JOB_SLOW``, LOW; ``off``
disables the rule); it resolves itself once the job no longer runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from regiq_tasks.alerts.models import Severity
from regiq_tasks.alerts.watch import Reading, watched
from regiq_tasks.predict.model import slow_threshold
from regiq_tasks.predict.queues import Running, read_live
from regiq_tasks.predict.stats import type_stats
from regiq_tasks.tracking.tracker import Tracker

JOB_SLOW = "job_slow"


def _reading(job: Running, severity: Severity, elapsed: float, threshold: float,
             runs: int) -> Reading:
    return Reading(
        JOB_SLOW, job.id, True, severity, subject=job.type or None,
        title=f"{job.type or 'job'} {job.id} runs {elapsed:.0f} s, past its type's 7-day "
              f"p99 ({threshold:.1f} s over {runs} runs)",
        cleared=f"job {job.id} no longer runs",
        details={"job_id": job.id, "job_ids": [job.id], "job_type": job.type,
                 "queue": job.queue, "running_for_s": round(elapsed, 3),
                 "threshold_s": round(threshold, 3), "type_runs": runs,
                 "job_link": f"/status/jobs/{job.id}"})


def slow_jobs(tracker: Tracker, now: float | None = None) -> Iterator[Reading]:
    """A held reading per slow running job; a clear one per watched job no longer slow."""
    s = tracker.settings
    if s.alert_job_slow.strip().upper() == "OFF":
        return
    severity = Severity(s.alert_job_slow.strip().upper())
    now = time.time() if now is None else now
    stats = type_stats(tracker)
    slow: set[str] = set()
    for job in read_live(tracker).running:
        found = stats.get(job.type)
        threshold = slow_threshold(found, job.expected_duration, s.slow_min_runs,
                                   s.slow_margin)
        if job.expected_duration or threshold is None or found is None or not job.started_at:
            continue
        if now - job.started_at > threshold:
            slow.add(job.id)
            yield _reading(job, severity, now - job.started_at, threshold, found.runs)
    for key in watched(tracker, JOB_SLOW):
        if key not in slow:
            yield Reading(JOB_SLOW, key, False, severity, title="",
                          cleared=f"job {key} no longer runs past its type's p99")
