"""The alerts feature on the tracking core's hooks: the hand-off to the alert task.

:func:`register` (called by ``install(app)``) subscribes:

* ``job_finished``: a job that was to end ``failed`` or ``lost`` and that the store
  confirmed so (a forced cancel turns ``lost`` into ``cancelled``; a ``retrying`` job is
  not final) is handed to the alert queue as one ``evaluate`` task, from the background
  writer thread (or the reaper); the task's own thread does nothing for alerts.
* a housekeeping duty under the reaper's lease: :func:`check_overdue`, running jobs
  past their ``expected_duration``, each reported once.

Every failure to hand off is logged and swallowed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from regiq_tasks.hooks import Duty, Hooks, JobEnded
from regiq_tasks.housekeeping.keeper import REAPER, reap_interval
from regiq_tasks.states import JobStatus
from regiq_tasks.store.keys import WATCH_LOCK
from regiq_tasks.tracking.tracker import Tracker, get_tracker
from regiq_tasks.tracking.transitions import task_options

logger = logging.getLogger(__name__)

EVALUATE_TASK = "regiq_tasks.alerts.evaluate"
# Publishing an alert event: a couple of quick retries, never a long stall of the writer.
HANDOFF_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2,
                 "interval_max": 0.5}
OVERDUE_SCAN = 5000  # running jobs looked at per overdue pass
OVERDUE_MARK_TTL = 86_400  # s: a job is reported overdue at most once in this time
_KINDS = {JobStatus.FAILED.value: "job_failed", JobStatus.LOST.value: "job_lost"}


def hand_off(app: Any, kind: str, job_id: str, data: dict[str, Any] | None = None) -> None:
    """Publish one alert event to the alert queue; log and go on if it cannot be sent."""
    try:
        payload = {"kind": kind, "job_id": job_id, "at": time.time(), "data": data or {}}
        app.tasks[EVALUATE_TASK].apply_async(
            (payload,), queue=get_tracker(app).settings.alert_queue, retry=True,
            retry_policy=HANDOFF_RETRY)
    except Exception:
        logger.warning("regiq: %s alert of job %s not handed to the alert queue", kind, job_id,
                       exc_info=True)


def on_job_finished(app: Any, ended: JobEnded) -> None:
    """Hand a job the store confirmed ``failed`` or ``lost`` to the alert rules."""
    if ended.requested not in _KINDS:
        return
    kind = _KINDS.get(ended.status)
    if kind is None:
        return
    data = None
    if ended.task is not None:
        error = ended.fields.get("error") or {}
        data = {"name": ended.task.name, **task_options(ended.task),
                "error": {"type": error.get("type"), "message": error.get("message")}}
    hand_off(app, kind, ended.job_id, data)


def register(hooks: Hooks) -> None:
    """Subscribe the alerts feature to the tracking core's hooks."""
    hooks.job_finished.append(on_job_finished)
    hooks.duties.append(Duty(REAPER, reap_interval, check_overdue))  # at the reaper's pace
    hooks.duties.append(Duty(WATCH_LOCK, lambda settings: settings.alert_watch_interval,
                             _watch_resources))


def _watch_resources(tracker: Tracker) -> int:
    """The resource alerts' duty (imported when it first runs: it needs the store)."""
    from regiq_tasks.alerts.resource_rules import watch_resources

    return watch_resources(tracker)


def _overdue(tracker: Tracker, now: float) -> list[tuple[str, float]]:
    """(job id, seconds running) of running jobs past their expected duration."""
    client, keys = tracker.redis, tracker.keys
    members: Any = client.zrange(keys.running, 0, OVERDUE_SCAN - 1)
    ids = [m.decode() for m in members]
    if not ids:
        return []
    pipe = client.pipeline(transaction=False)
    for job_id in ids:
        pipe.hmget(keys.job(job_id), "status", "started_at", "expected_duration")
    late = []
    for job_id, (status, started, expected) in zip(ids, pipe.execute()):
        if status == b"running" and started and expected:
            running_for = now - float(started)
            if running_for > float(expected):
                late.append((job_id, round(running_for, 3)))
    return late


def check_overdue(tracker: Tracker) -> int:
    """Report running jobs past their ``expected_duration`` (each once); returns how many."""
    try:
        now = time.time()
        reported = 0
        for job_id, running_for in _overdue(tracker, now):
            if tracker.redis.set(tracker.keys.alert_overdue(job_id), repr(now), nx=True,
                                 ex=OVERDUE_MARK_TTL):
                hand_off(tracker.app, "job_overdue", job_id, {"running_for_s": running_for})
                reported += 1
        return reported
    except Exception:
        logger.warning("regiq: overdue check failed (will retry)", exc_info=True)
        return 0
