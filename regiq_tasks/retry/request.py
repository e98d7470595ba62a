"""Retrying a job: publish a failed, lost or cancelled job again as a new job.

The store claims the retry atomically (``retry.lua``: the status allows it, no retry was
made yet, the message is still kept) and links the old job to the new id before the
message is sent again, so two retries never publish it twice; a publish that fails
undoes the link.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery.utils import uuid

from regiq_tasks.api import _job_id, _tracker
from regiq_tasks.errors import JobNotFound, JobNotRetryable, StoreUnavailable, reachable
from regiq_tasks.history import repository
from regiq_tasks.retry.message import send_again
from regiq_tasks.states import JobStatus
from regiq_tasks.store import Change
from regiq_tasks.store.filters import MAX_REASON, prose_arg
from regiq_tasks.tracking.lifecycle import PIPELINE_HEADER
from regiq_tasks.tracking.tracker import Tracker

logger = logging.getLogger(__name__)

RETRYABLE = (JobStatus.FAILED, JobStatus.LOST, JobStatus.CANCELLED)
BROKER = "broker"  # the dependency a failed publish names
# The fields a retry's record takes from the job it retries when this process does not
# track the task itself (the worker's start fills in the rest).
_COPIED_FIELDS = ("name", "type", "alert_severity", "expected_duration", "queue",
                  "args_preview", "pipeline_id", "root_id", "parent_id", "group_id")


def _refusal(job_id: str, status: str, retried_as: str | None) -> JobNotRetryable:
    """Why a job cannot be retried, as the error the caller gets."""
    if status not in RETRYABLE:
        reason = f"it is {status}; only failed, lost or cancelled jobs are retried"
    elif retried_as:
        reason = f"it was retried already as {retried_as}"
    else:
        reason = ("its message is no longer kept: regiq keeps a job's message only while "
                  "the job is in the live store (REGIQ_LIVE_TTL)")
    return JobNotRetryable(job_id, status, reason)


def _claim(tracker: Tracker, job_id: str, new_id: str, requested_by: str | None) -> str:
    """The kept message of a job whose retry is now claimed, or the error to raise."""
    with reachable("retry_job"):
        outcome, status, extra = tracker.store.claim_retry(job_id, new_id, requested_by)
        if outcome == "missing":
            archived = repository.get_job(tracker.existing_engine, job_id)
            if archived is None:
                raise JobNotFound(job_id)
            raise _refusal(job_id, archived["status"], archived.get("retried_as"))
    if outcome != "ok" or extra is None:
        raise _refusal(job_id, status, extra if outcome == "retried" else None)
    return extra


def _queued_copy(old: dict[str, Any], new_id: str, headers: dict[str, Any]) -> Change:
    """The queued record of a retry whose task this process does not track."""
    fill = {name: old.get(name) for name in _COPIED_FIELDS}
    fill.update(id=new_id, created_at=time.time(), retry_of=old["id"],
                pipeline_id=headers.get(PIPELINE_HEADER) or old.get("pipeline_id"))
    return Change(new_id, JobStatus.QUEUED, fill=fill, pipeline_id=fill["pipeline_id"])


def retry_job(job_id: str, requested_by: str | None = None, *, app: Any = None) -> dict[str, Any]:
    """Publish a failed, lost or cancelled job again; returns the new job's record.

    The new job runs the same task with the same arguments, routing and chain (retrying a
    failed link of a chain runs the links after it); it has ``retry_of`` and the old job
    ``retried_as``. Raises JobNotFound for an unknown id and JobNotRetryable for any other
    status, a job retried already, or one whose message is no longer kept.
    """
    job_id = _job_id(job_id)
    requested_by = prose_arg(requested_by, "requested_by", MAX_REASON, required=False)
    tracker = _tracker(app)
    new_id = uuid()
    kept = _claim(tracker, job_id, new_id, requested_by)
    with reachable("retry_job"):
        old = tracker.store.get(job_id) or {"id": job_id}
        headers: dict[str, Any] = {}
        pipeline_id = old.get("pipeline_id")
        if pipeline_id and tracker.store.client.exists(tracker.keys.pipeline_cancel(pipeline_id)):
            headers[PIPELINE_HEADER] = new_id  # its pipeline was cancelled as a whole
    try:
        send_again(tracker.app, kept, new_id, job_id, headers)
    except Exception as exc:
        tracker.store.release_retry(job_id, new_id)
        raise StoreUnavailable(BROKER, str(exc), "retry_job") from exc
    logger.info("regiq: job %s retried as %s by %s", job_id, new_id, requested_by)
    with reachable("retry_job"):
        tracker.flush(timeout=2.0)  # the publish signal queued the new record here
        record = tracker.store.get(new_id)
        if record is None:
            tracker.store.apply(_queued_copy(old, new_id, headers))
            record = tracker.store.get(new_id)
    assert record is not None
    return record
