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

from collections.abc import Iterator

from regiq_tasks.alerts.models import Severity
from regiq_tasks.alerts.watch import Reading, watched
from regiq_tasks.predict.queues import Running
from regiq_tasks.predict.slow import slow_running
from regiq_tasks.tracking.tracker import Tracker

JOB_SLOW = "job_slow"


def _reading(job: Running, severity: Severity, elapsed: float, threshold: float,
             runs: int) -> Reading:
    return Reading(
        JOB_SLOW, job.id, True, severity, subject=job.type or None,
        title=f"{job.type or 'job'} {job.id} runs {elapsed:.0f} s, past {threshold:.1f} s "
              f"(its type's 7-day p99, {runs} runs)",
        cleared=f"job {job.id} no longer runs",
        details={"job_id": job.id, "job_ids": [job.id], "job_type": job.type,
                 "queue": job.queue, "running_for_s": round(elapsed, 3),
                 "threshold_s": round(threshold, 3), "type_runs": runs,
                 "job_link": f"/status/jobs/{job.id}"})


def slow_jobs(tracker: Tracker, now: float | None = None) -> Iterator[Reading]:
    """A held reading per slow running job; a clear one per watched job no longer slow."""
    setting = tracker.settings.alert_job_slow.strip().upper()
    if setting == "OFF":
        return
    severity = Severity(setting)
    slow: set[str] = set()
    for found in slow_running(tracker, now):
        if found.runs:  # learned from history, not the author's expected_duration
            slow.add(found.job.id)
            yield _reading(found.job, severity, found.elapsed, found.threshold, found.runs)
    for key in watched(tracker, JOB_SLOW):
        if key not in slow:
            yield Reading(JOB_SLOW, key, False, severity, title="",
                          cleared=f"job {key} no longer runs past its type's p99")
