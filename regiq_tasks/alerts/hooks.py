"""The hand-off from tracking to the alert task: cheap, and never an error for the job.

* ``watch(task, change)``: a final ``failed``/``lost`` change of a job gets a result
  callback; once the store confirms the job really ended so (a forced cancel turns
  ``lost`` into ``cancelled``; a ``retrying`` job is not final), the background writer
  thread publishes one ``evaluate`` task to the alert queue. The task's own thread only
  attaches the callback.
* ``on_reaped(app, ids, results)``: jobs the reaper marked ``lost``.
* ``check_overdue(tracker)``: run by the reaper (under its lease): running jobs past
  their ``expected_duration``, each reported once.

Every failure to hand off is logged and swallowed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from ..states import JobStatus
from ..store import Change
from ..tracker import Tracker, get_tracker
from ..transitions import task_options

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


def watch(task: Any, change: Change) -> None:
    """Hand ``change``'s job to the alert rules once the store confirms it failed/was lost."""
    if change.status not in _KINDS:
        return
    app, then, job_id = task.app, change.on_result, change.job_id
    error = change.set.get("error") or {}
    data = {"name": task.name, **task_options(task),
            "error": {"type": error.get("type"), "message": error.get("message")}}

    def on_result(status: str, cancelled: bool) -> None:
        if then is not None:
            then(status, cancelled)
        kind = _KINDS.get(status)
        if kind is not None:
            hand_off(app, kind, job_id, data)

    change.on_result = on_result


def on_reaped(app: Any, job_ids: Sequence[str], results: Sequence[tuple[str, bool]]) -> None:
    """Hand the jobs the reaper just marked ``lost`` to the alert rules."""
    for job_id, (status, _) in zip(job_ids, results):
        if status == JobStatus.LOST.value:
            hand_off(app, "job_lost", job_id)


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
