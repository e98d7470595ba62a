"""Pure functions turning Celery's view of a job into store changes."""

from __future__ import annotations

import traceback as tb
from typing import Any

from regiq_tasks.states import JobStatus
from regiq_tasks.store import Change
from regiq_tasks.store.keys import index_member
from regiq_tasks.store.record import PROGRESS_FIELDS
from regiq_tasks.tracking.runtime import JobRuntime

ERROR_MESSAGE_MAX = 2000
TRACEBACK_MAX = 8000
# The hash fields every progress flush writes (progress_fields; metadata only when changed).
PROGRESS_FLUSH_FIELDS = frozenset({*PROGRESS_FIELDS, "rate_per_s", "eta_seconds"})


def error_info(exc: BaseException | None, traceback_text: str | None = None) -> dict[str, Any]:
    """The record's ``error`` object for an exception (message and traceback truncated)."""
    if traceback_text is None and exc is not None and exc.__traceback__ is not None:
        traceback_text = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
    message = str(exc) if exc is not None else ""
    return {"type": type(exc).__name__ if exc is not None else "Error",
            "message": message[:ERROR_MESSAGE_MAX],
            "traceback": (traceback_text or "")[-TRACEBACK_MAX:] or None}


def task_options(task: Any) -> dict[str, Any]:
    """The tracked-task options stored on every record of this task."""
    return {"type": getattr(task, "job_type", None) or task.name.rsplit(".", 1)[-1],
            "alert_severity": getattr(task, "alert_severity", None),
            "expected_duration": getattr(task, "expected_duration", None)}


def identity(job_id: str, name: str, created_at: float, lineage: dict[str, Any]) -> dict[str, Any]:
    """The fields that identify a job and place it in the indexes."""
    return {"id": job_id, "name": name, "created_at": created_at,
            "_ix": index_member(created_at, job_id), **lineage}


def published(job_id: str, task: Any, created_at: float, lineage: dict[str, Any],
              queue: str | None, preview: str, retries: int) -> Change:
    """The job was sent to a broker: it is queued."""
    fill = {**identity(job_id, task.name, created_at, lineage), **task_options(task),
            "queue": queue, "args_preview": preview, "retries": retries}
    return Change(job_id, JobStatus.QUEUED, fill=fill, pipeline_id=lineage["pipeline_id"])


def started(rt: JobRuntime, created_at: float, lineage: dict[str, Any], worker: str | None,
            queue: str | None, retries: int, preview: str | None) -> Change:
    """A worker process began to run the job."""
    fill = {**identity(rt.job_id, rt.task.name, created_at, lineage),
            **task_options(rt.task), "queue": queue, "args_preview": preview}
    queue_wait = round(max(0.0, rt.started_wall - created_at), 6)
    return Change(rt.job_id, JobStatus.RUNNING, fill=fill, pipeline_id=lineage["pipeline_id"],
                  set={"started_at": rt.started_wall, "worker": worker, "retries": retries,
                       "queue_wait_s": queue_wait})


def progress_fields(rt: JobRuntime) -> dict[str, Any]:
    """The progress fields of a runtime as stored in the job hash."""
    fields: dict[str, Any] = {"progress_current": rt.current, "progress_total": rt.total,
                              "progress_message": rt.message,
                              "rate_per_s": None if rt.rate is None else round(rt.rate, 6),
                              "eta_seconds": rt.eta_seconds()}
    if rt.metadata_dirty:
        fields["metadata"] = dict(rt.metadata)
        rt.metadata_dirty = False
    return fields


def progressed(rt: JobRuntime) -> Change:
    """A coalesced progress report of a running job."""
    return Change(rt.job_id, set=progress_fields(rt))


def measured(rt: JobRuntime) -> Change:
    """A running job's resources so far, current RSS included (with its heartbeat)."""
    return Change(rt.job_id, set={"resources": rt.resources(live=True)})


def finished(rt: JobRuntime, status: JobStatus, finished_at: float,
             error: dict[str, Any] | None, retries: int) -> Change:
    """The job left the worker: succeeded, failed, retrying or cancelled."""
    fields = progress_fields(rt)
    if status is JobStatus.SUCCEEDED:
        fields["eta_seconds"] = 0.0
    fields.update({"resources": rt.resources(), "error": error, "retries": retries,
                   "metadata": dict(rt.metadata) if rt.metadata else None})
    if status is not JobStatus.RETRYING:
        fields.update({"finished_at": finished_at,
                       "duration_s": round(finished_at - rt.started_wall, 6)})
    return Change(rt.job_id, status, set=fields, fill=rt.identity)


def ended_elsewhere(job_id: str, status: JobStatus, finished_at: float,
                    error: dict[str, Any] | None, fill: dict[str, Any] | None = None) -> Change:
    """The job ended without its own process reporting it (lost, time limit, revoke)."""
    return Change(job_id, status, set={"finished_at": finished_at, "error": error},
                  fill=fill or {})


def resumed(rt: JobRuntime) -> Change:
    """A running job whose record Redis lost (it came back empty) is written again."""
    return Change(rt.job_id, JobStatus.RUNNING,
                  fill={**rt.identity, "started_at": rt.started_wall})
