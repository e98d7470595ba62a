"""Progress reported from outside the task (the monitor's ``PUT .../progress``).

The change goes through the live store's atomic write path (``apply.lua``), so it keeps
the indexes, emits an event on the stream like any other progress write, and never
touches a job that already reached a final status.
"""

from __future__ import annotations

import math
from typing import Any

from regiq_tasks.api import _job_id, _tracker
from regiq_tasks.errors import InvalidParameter, JobNotFound, RegiqError, reachable
from regiq_tasks.history import repository
from regiq_tasks.states import JobStatus
from regiq_tasks.store import Change
from regiq_tasks.store.filters import MAX_REASON


class JobFinished(RegiqError):
    """The job already reached a final status; its progress can no longer change."""

    def __init__(self, job_id: str, status: str) -> None:
        super().__init__(f"job {job_id!r} is {status}: its progress can no longer change")
        self.job_id = job_id
        self.status = status


def _number(value: Any, name: str, *, positive: bool) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value < 0 or (positive and value == 0):
        need = "> 0" if positive else ">= 0"
        raise InvalidParameter(name, f"expected a finite number {need}, got {value!r}")
    return value


def report_progress(job_id: str, current: float, total: float | None = None,
                    message: str | None = None, *, app: Any = None) -> dict[str, Any]:
    """Set a live job's progress; returns its updated record.

    Raises JobNotFound for an unknown id and JobFinished for a job in a final status.
    """
    job_id = _job_id(job_id)
    fields: dict[str, Any] = {"progress_current": _number(current, "current", positive=False)}
    if total is not None:
        fields["progress_total"] = _number(total, "total", positive=True)
    if message is not None:
        if not isinstance(message, str) or len(message) > MAX_REASON or "\x00" in message:
            raise InvalidParameter("message", f"expected a string of at most {MAX_REASON} "
                                              "characters without NUL")
        fields["progress_message"] = message
    tracker = _tracker(app)
    with reachable("report_progress"):
        status, _ = tracker.store.apply(Change(job_id, set=fields))
        if status == "":
            archived = repository.get_job(tracker.engine, job_id)
            if archived is None:
                raise JobNotFound(job_id)
            raise JobFinished(job_id, archived["status"])
        if JobStatus(status).is_final:
            raise JobFinished(job_id, status)
        record = tracker.store.get(job_id)
    if record is None:  # expired between the two calls: it was final
        raise JobFinished(job_id, status)
    return record
