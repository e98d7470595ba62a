"""Cancelling jobs and pipelines: the request is data, written before anything else.

A queued (or retrying) job becomes ``cancelled`` at the moment of the call and never
runs: the start hook of every worker checks the record before the body runs, so this
holds across worker restarts, when Celery's in-memory revoke list is gone. A running job
keeps ``running`` with ``cancel.requested`` until it stops at its next ``progress()`` /
``check_cancelled()``; with ``terminate=True``, a job still running ``cancel_grace``
seconds later is terminated by its own pool process, and only while that process still
runs that job.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from regiq_tasks.api import _job_id, _tracker, get_pipeline
from regiq_tasks.errors import InvalidParameter, JobNotCancellable, JobNotFound, reachable
from regiq_tasks.history import repository
from regiq_tasks.store.filters import MAX_REASON, prose_arg
from regiq_tasks.store.record import iso

logger = logging.getLogger(__name__)

def cancel_job(job_id: str, reason: str, requested_by: str | None = None,
               terminate: bool = False, *, app: Any = None) -> dict[str, Any]:
    """Cancel one job; returns its updated record.

    Raises JobNotFound for an unknown id and JobNotCancellable if it already succeeded,
    failed or was lost. A second cancel returns the record unchanged (first reason kept).
    """
    job_id = _job_id(job_id)
    reason = prose_arg(reason, "reason", MAX_REASON, required=True)  # type: ignore[assignment]
    requested_by = prose_arg(requested_by, "requested_by", MAX_REASON, required=False)
    if not isinstance(terminate, bool):
        raise InvalidParameter("terminate", f"expected a bool, got {terminate!r}")
    tracker = _tracker(app)
    now = time.time()
    cancel = {"requested": True, "reason": reason, "requested_by": requested_by,
              "requested_at": iso(now), "terminate": terminate}
    with reachable("cancel_job"):
        outcome, status = tracker.store.request_cancel(job_id, cancel, terminate, now)
        if outcome == "missing":
            archived = repository.get_job(tracker.existing_engine, job_id)
            if archived is None:
                raise JobNotFound(job_id)
            if archived["status"] == "cancelled":
                return archived
            raise JobNotCancellable(job_id, archived["status"])
        if outcome == "final":
            raise JobNotCancellable(job_id, status)
        record = tracker.store.get(job_id)
    if outcome == "cancelled":
        _revoke(tracker.app, job_id)
    assert record is not None
    return record


def _revoke(app: Any, job_id: str) -> None:
    """Tell running workers to drop the message early (the record already guarantees it)."""
    try:
        app.control.revoke(job_id)
    except Exception as exc:
        logger.warning("regiq: revoke of cancelled job %s not sent: %s", job_id, exc)


def cancel_pipeline(pipeline_id: str | None = None, reason: str | None = None,
                    requested_by: str | None = None, terminate: bool = False, *,
                    root_id: str | None = None, app: Any = None) -> dict[str, Any]:
    """Cancel every unfinished job of a pipeline, and the jobs it would publish later.

    Returns the pipeline summary (as ``get_pipeline``). Raises JobNotFound if no job of
    the pipeline is known.
    """
    if pipeline_id is not None and root_id is not None and pipeline_id != root_id:
        raise InvalidParameter("pipeline_id", "conflicts with its alias root_id")
    pid = _job_id(pipeline_id if pipeline_id is not None else root_id,
                  "pipeline_id" if pipeline_id is not None or root_id is None else "root_id")
    why = prose_arg(reason, "reason", MAX_REASON, required=True)
    assert why is not None
    requested_by = prose_arg(requested_by, "requested_by", MAX_REASON, required=False)
    tracker = _tracker(app)
    summary = get_pipeline(pid, app=tracker.app)
    if summary is None:
        raise JobNotFound(pid)
    cancel = {"requested": True, "reason": why, "requested_by": requested_by,
              "requested_at": iso(time.time()), "terminate": terminate}
    with reachable("cancel_pipeline"):
        tracker.store.cancel_pipeline_record(pid, cancel)
    for job in summary["jobs"]:
        if job["status"] in ("queued", "running", "retrying"):
            try:
                cancel_job(job["id"], why, requested_by, terminate, app=tracker.app)
            except JobNotCancellable:
                pass  # it finished meanwhile
    result = get_pipeline(pid, app=tracker.app)
    assert result is not None
    return result
