"""What happens to a tracked job at each Celery lifecycle point.

The signal receivers in ``signals/`` translate Celery's arguments and call these
functions; each builds one store change (``transitions``) and hands it to the tracker.
Only the start of a job is written synchronously (one round trip, which also reads
back a cancel request); progress and final transitions go through the background writer.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery.exceptions import WorkerLostError

from regiq_tasks.cancel.enforce import on_start_result
from regiq_tasks.hooks import Hooks
from regiq_tasks.pipelines.plan import Untracked, plan_entry, starts_pipeline
from regiq_tasks.redact import args_preview
from regiq_tasks.retry.message import RETRY_HEADER, keep
from regiq_tasks.states import FINAL_STATUSES, JobStatus
from regiq_tasks.store import Change
from regiq_tasks.tracking import transitions
from regiq_tasks.tracking.runtime import JobRuntime, set_current_runtime
from regiq_tasks.tracking.task import JobCancelled, TrackedTask
from regiq_tasks.tracking.tracker import get_tracker

logger = logging.getLogger(__name__)

PIPELINE_HEADER = "regiq_pipeline_id"
CREATED_HEADER = "regiq_created_at"

_POSTRUN_STATES = {"SUCCESS": JobStatus.SUCCEEDED, "FAILURE": JobStatus.FAILED,
                   "RETRY": JobStatus.RETRYING, "IGNORED": JobStatus.SUCCEEDED,
                   "REJECTED": JobStatus.FAILED}


def is_tracked(task: Any) -> bool:
    """True if the task's runs are tracked."""
    return isinstance(task, TrackedTask)


def job_lineage(get: Any, job_id: str, pipeline_id: str | None) -> dict[str, Any]:
    """The pipeline and Celery lineage ids of a job (and the job it retries), from its
    message headers or request."""
    return {"pipeline_id": pipeline_id or get("group") or get("root_id") or job_id,
            "root_id": get("root_id"), "parent_id": get("parent_id"), "group_id": get("group"),
            "retry_of": get(RETRY_HEADER)}


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


def on_published(task: Any, headers: dict[str, Any], body: Any, routing_key: str | None,
                 exchange: str | None = None, properties: dict[str, Any] | None = None,
                 declare: Any = None) -> None:
    """A tracked task message was published: record the job as queued, with its message
    kept for a retry (``retry.message``) and, if it starts a pipeline, the pipeline's plan
    (``pipelines.plan``)."""
    job_id = headers["id"]
    args, kwargs = (body[0], body[1]) if isinstance(body, (tuple, list)) and len(body) >= 2 \
        else ((), {})
    change = transitions.published(
        job_id, task, float(headers.get(CREATED_HEADER) or time.time()),
        job_lineage(headers.get, job_id, headers.get(PIPELINE_HEADER)), routing_key,
        args_preview(args, kwargs), int(headers.get("retries") or 0))
    change.message = keep(task.serializer, headers, body, exchange, routing_key, properties,
                          declare)
    if starts_pipeline(headers, change.pipeline_id):
        change.plan = plan_entry(headers, body, _job_types(task.app))
    tracker = get_tracker(task.app)
    tracker.submit(change)
    if tracker.hooks.job_published:
        Hooks.call(tracker.hooks.job_published, task.app, change)


def _job_types(app: Any) -> Any:
    """The job type of a task name as its records will show it (None if unknown here;
    ``Untracked`` for a task registered here that is not tracked)."""
    def type_of(name: str) -> str | None:
        task = app.tasks.get(name)
        if task is None:
            return None
        if not is_tracked(task):
            raise Untracked(name)
        return str(transitions.task_options(task)["type"])
    return type_of


def on_started(task: Any, job_id: str, args: Any, kwargs: Any) -> None:
    """A worker process starts running a tracked job (synchronous write)."""
    tracker = get_tracker(task.app)
    req = task.request
    created = getattr(req, CREATED_HEADER, None)
    rt = JobRuntime(job_id, task, time.time(), 0)
    rt.worker = req.hostname
    rt.logs = tracker.capture_logs()
    tracker.running.register(rt)
    tracker.cancels.start()  # cancel requests pushed to this process from now on
    set_current_runtime(rt)
    lineage = job_lineage(req.get, job_id, getattr(req, PIPELINE_HEADER, None))
    lineage["group_id"] = req.group
    change = transitions.started(
        rt, float(created) if created else rt.started_wall, lineage, req.hostname,
        (req.delivery_info or {}).get("routing_key"), int(req.retries or 0),
        args_preview(args, kwargs))  # the queued change may land after the end
    rt.identity = {**change.fill, "worker": req.hostname}
    result = tracker.writer.apply_now(change)
    on_start_result(rt, result)  # cancelled while queued: it never runs
    if tracker.hooks.job_started:
        Hooks.call(tracker.hooks.job_started, task.app, change, result[0] if result else "")


def ending(change: Change, task: Any) -> Change:
    """Mark a final change so that the ``job_finished`` hooks hear of it once applied."""
    change.notify = True
    change.origin = task
    return change


def on_outcome(task: Any, job_id: str, status: JobStatus,
               error: dict[str, Any] | None) -> bool:
    """Note how a job running in this process ended; False if it does not run here."""
    rt = get_tracker(task.app).running.get(job_id)
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
    get_tracker(task.app).submit(ending(change, task))


def on_finished(task: Any, job_id: str, state: str | None) -> None:
    """The job left the worker process: write its final (or retrying) record.

    Without a ``state`` the body never ended: the process is going away under it (a
    terminate's SIGTERM raised ``SystemExit``). Its last progress is written, and the
    worker's main process reports the end (a terminate revoke, a lost worker).
    """
    tracker = get_tracker(task.app)
    if state is None:
        rt = tracker.running.unregister(job_id)  # no lock: a terminate holds it while this exits
        set_current_runtime(None)
        if rt is not None:
            tracker.submit(transitions.progressed(rt))
        return
    with tracker.running.finish_lock:  # a forced terminate never hits the next job here
        rt = tracker.running.unregister(job_id)
    set_current_runtime(None)
    if rt is None or (rt.skip and rt.skip != JobStatus.CANCELLED):
        return  # a second delivery of an ended job's message: its record stands
    status, error = rt.outcome or (_POSTRUN_STATES.get(state, JobStatus.FAILED), None)
    change = transitions.finished(rt, JobStatus(status), time.time(), error,
                                  int(task.request.retries or 0))
    # a cancelled job's end is written at once (someone waits for it), others in a batch
    tracker.submit(ending(change, task) if change.status in FINAL_STATUSES else change,
                   urgent=change.status == JobStatus.CANCELLED)


def on_retry(task: Any, job_id: str, reason: Any, traceback_text: str | None) -> None:
    """A tracked job will be retried: note it, postrun writes ``retrying``."""
    exc = reason if isinstance(reason, BaseException) else None
    on_outcome(task, job_id, JobStatus.RETRYING, transitions.error_info(exc, traceback_text))


def on_worker_ready(app: Any, hostname: str | None, worker: Any = None) -> None:
    """A worker's main process is ready: bring the history schema up, tell the features
    (``worker``: Celery's WorkController, whose pool the features may look at)."""
    tracker = get_tracker(app)
    try:
        tracker.migrate()
    except Exception:  # the archiver retries; tracking and the tasks go on
        logger.exception("regiq: history schema not brought up to date at worker start")
    Hooks.call(tracker.hooks.worker_started, app, hostname, worker)


def on_worker_stopping(app: Any) -> None:
    """A worker's main process stops: tell the features."""
    Hooks.call(get_tracker(app).hooks.worker_stopping, app)
