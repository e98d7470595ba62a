"""What happens to a tracked job at each Celery lifecycle point.

The signal receivers in ``signals/`` translate Celery's arguments and call these
functions; each builds one store change (``transitions``) and hands it to the tracker.
Only the start of a job is written synchronously (one round trip, which also reads
back a cancel request); progress and final transitions go through the background writer.
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

import redis
from celery.exceptions import WorkerLostError

from . import transitions
from .alerts import hooks as alert_hooks
from .record import iso
from .revokes import announce_revoked
from .runtime import JobRuntime, set_current_runtime
from .states import FINAL_STATUSES, JobStatus
from .task import JobCancelled, TrackedTask
from .tracker import get_tracker

logger = logging.getLogger(__name__)

PIPELINE_HEADER = "regiq_pipeline_id"
CREATED_HEADER = "regiq_created_at"

_POSTRUN_STATES = {"SUCCESS": JobStatus.SUCCEEDED, "FAILURE": JobStatus.FAILED,
                   "RETRY": JobStatus.RETRYING, "IGNORED": JobStatus.SUCCEEDED,
                   "REJECTED": JobStatus.FAILED}


def is_tracked(task: Any) -> bool:
    """True if the task's runs are tracked."""
    return isinstance(task, TrackedTask)


def _lineage(get: Any, job_id: str, pipeline_id: str | None) -> dict[str, Any]:
    return {"pipeline_id": pipeline_id or get("group") or get("root_id") or job_id,
            "root_id": get("root_id"), "parent_id": get("parent_id"), "group_id": get("group")}


def stamp_headers(headers: dict[str, Any], current_task: Any) -> None:
    """Stamp the pipeline id and publish time on an outgoing task message.

    A task published while a task runs inherits that task's pipeline; a top-level group
    or chord member takes the group id; anything else starts a pipeline of its own.
    """
    if "id" not in headers:
        return  # task protocol 1: nothing to stamp
    headers[CREATED_HEADER] = time.time()
    if headers.get(PIPELINE_HEADER):
        return
    parent = None
    if current_task is not None and current_task.request.id is not None:
        req = current_task.request
        parent = getattr(req, PIPELINE_HEADER, None) or req.root_id or req.id
    headers[PIPELINE_HEADER] = parent or headers.get("group") or headers["id"]


def on_published(task: Any, headers: dict[str, Any], body: Any, routing_key: str | None) -> None:
    """A tracked task message was published: record the job as queued."""
    job_id = headers["id"]
    args, kwargs = (body[0], body[1]) if isinstance(body, (tuple, list)) and len(body) >= 2 \
        else ((), {})
    change = transitions.published(
        job_id, task, float(headers.get(CREATED_HEADER) or time.time()),
        _lineage(headers.get, job_id, headers.get(PIPELINE_HEADER)), routing_key,
        transitions.args_preview(args, kwargs), int(headers.get("retries") or 0))
    get_tracker(task.app).submit(change)


def on_started(task: Any, job_id: str, args: Any, kwargs: Any) -> None:
    """A worker process starts running a tracked job (synchronous write)."""
    tracker = get_tracker(task.app)
    req = task.request
    created = getattr(req, CREATED_HEADER, None)
    rt = JobRuntime(job_id, task, time.time(), 0)
    rt.worker = req.hostname
    tracker.register(rt)
    set_current_runtime(rt)
    lineage = _lineage(req.get, job_id, getattr(req, PIPELINE_HEADER, None))
    lineage["group_id"] = req.group
    change = transitions.started(
        rt, float(created) if created else rt.started_wall, lineage, req.hostname,
        (req.delivery_info or {}).get("routing_key"), int(req.retries or 0),
        transitions.args_preview(args, kwargs))  # the queued change may land after the end
    rt.identity = {**change.fill, "worker": req.hostname}
    result = tracker.writer.apply_now(change)
    if result is not None and result[0] in FINAL_STATUSES:
        rt.skip = rt.cancelled = True  # cancelled while queued: never runs
    elif result is not None and result[1]:
        rt.cancelled = True


def on_outcome(task: Any, job_id: str, status: JobStatus,
               error: dict[str, Any] | None) -> bool:
    """Note how a job running in this process ended; False if it does not run here."""
    rt = get_tracker(task.app).runtimes.get(job_id)
    if rt is None:
        return False
    rt.outcome = (status, error)
    return True


def on_failure(task: Any, job_id: str, exc: BaseException, traceback_text: str | None) -> None:
    """A tracked job failed: in its own process, or reported by the worker's main process."""
    if isinstance(exc, JobCancelled):
        on_outcome(task, job_id, JobStatus.CANCELLED, None)
        return
    error = transitions.error_info(exc, traceback_text)
    if on_outcome(task, job_id, JobStatus.FAILED, error):
        return
    status = JobStatus.LOST if isinstance(exc, WorkerLostError) else JobStatus.FAILED
    fill = {"id": job_id, "name": task.name, **transitions.task_options(task)}
    change = transitions.ended_elsewhere(job_id, status, time.time(), error, fill)
    alert_hooks.watch(task, change)  # alerts once the store confirms failed/lost
    get_tracker(task.app).submit(change)


def on_finished(task: Any, job_id: str, state: str | None) -> None:
    """The job left the worker process: write its final (or retrying) record.

    Without a ``state`` the body never ended: the process is going away under it (a
    terminate's SIGTERM raised ``SystemExit``). Its last progress is written, and the
    worker's main process reports the end (a terminate revoke, a lost worker).
    """
    tracker = get_tracker(task.app)
    if state is None:
        rt = tracker.unregister(job_id)  # no lock: a terminate holds it while this exits
        set_current_runtime(None)
        if rt is not None:
            tracker.submit(transitions.progressed(rt))
        return
    with tracker.finish_lock:  # a forced terminate never hits the next job of this process
        rt = tracker.unregister(job_id)
    set_current_runtime(None)
    if rt is None:
        return
    status, error = rt.outcome or (_POSTRUN_STATES.get(state, JobStatus.FAILED), None)
    change = transitions.finished(rt, JobStatus(status), time.time(), error,
                                  int(task.request.retries or 0))
    alert_hooks.watch(task, change)  # alerts once the store confirms a final failure
    tracker.submit(change)


def on_revoked(task: Any, request: Any, expired: bool, terminated: bool = False,
               signum: Any = None) -> None:
    """Celery revoked a job (from regiq, Flower or ``celery control``): cancelled.

    A queued job never ran; a terminated one ends ``cancelled`` too (never ``failed``),
    its cancel record saying so and naming the signal. The running process's own end
    is not written (see :func:`on_finished`), so no failure alert is raised.
    """
    now = time.time()
    tracker = get_tracker(task.app)
    reason = "expired" if expired else "revoked outside regiq"
    cancel: dict[str, Any] = {"requested": True, "reason": reason, "requested_by": None,
                              "requested_at": iso(now)}
    fill = {**transitions.identity(request.id, task.name, now,
                                   _lineage(request.get, request.id,
                                            request.get(PIPELINE_HEADER))),
            **transitions.task_options(task), "cancel": cancel}
    change = transitions.ended_elsewhere(request.id, JobStatus.CANCELLED, now, None, fill)
    if terminated:
        _terminated(task, request, change, cancel, signal_name(signum))
    tracker.submit(change)


def _terminated(task: Any, request: Any, change: Any, cancel: dict[str, Any],
                signame: str | None) -> None:
    """Make a revoke's change say that the job was terminated, and by which signal."""
    earlier = _cancel_record(get_tracker(task.app), request.id)
    change.set["cancel"] = {**(earlier or cancel), "terminated": True, "signal": signame}

    def on_result(status: str, _cancelled: bool) -> None:
        if status == JobStatus.CANCELLED:
            announce_revoked(task.app, request, terminated=True, signum=signame,
                             expired=False)
    change.on_result = on_result


def _cancel_record(tracker: Any, job_id: str) -> dict[str, Any] | None:
    """The job's cancel record so far (a terminate adds to it); None if unreadable."""
    try:
        return tracker.store.cancel_record(job_id)
    except (redis.RedisError, ValueError) as exc:  # the change keeps a new record
        logger.warning("regiq: cancel record of job %s not read: %s", job_id, exc)
        return None


def signal_name(signum: Any) -> str | None:
    """``SIGTERM`` for 15 or ``"15"``; other values as given, None stays None."""
    if signum is None:
        return None
    try:
        return signal.Signals(int(signum)).name
    except (TypeError, ValueError):
        return str(signum)


def on_retry(task: Any, job_id: str, reason: Any, traceback_text: str | None) -> None:
    """A tracked job will be retried: note it, postrun writes ``retrying``."""
    exc = reason if isinstance(reason, BaseException) else None
    on_outcome(task, job_id, JobStatus.RETRYING, transitions.error_info(exc, traceback_text))
