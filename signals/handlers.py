"""Thin receivers: translate Celery's signal arguments, call ``regiq_tasks.tracking.lifecycle``.

Celery logs and swallows receiver exceptions; the receivers add nothing that could
raise into a task beyond what the lifecycle functions guard themselves.
"""

from __future__ import annotations

import weakref
from typing import Any

from celery import signals
from celery._state import get_current_worker_task

from regiq_tasks.cancel import revokes
from regiq_tasks.cancel.revokes import watch_revokes
from regiq_tasks.housekeeping.keeper import start_housekeeper, stop_housekeeper
from regiq_tasks.states import JobStatus
from regiq_tasks.tracking import lifecycle
from regiq_tasks.tracking.task import publishing_task
from regiq_tasks.tracking.tracker import get_tracker

_apps: weakref.WeakSet[Any] = weakref.WeakSet()


def _tracked(name: str) -> Any:
    task = publishing_task()
    if task is not None and task.name == name:
        return task
    for app in _apps:
        task = app.tasks.get(name)
        if task is not None and lifecycle.is_tracked(task):
            return task
    return None


def on_before_publish(sender: Any = None, headers: Any = None, body: Any = None,
                      routing_key: Any = None, exchange: Any = None, properties: Any = None,
                      declare: Any = None, **_: Any) -> None:
    lifecycle.stamp_headers(headers, get_current_worker_task())
    task = _tracked(sender)
    if task is not None:
        lifecycle.on_published(task, headers, body, routing_key, exchange, properties, declare)


def on_prerun(sender: Any = None, task_id: Any = None, task: Any = None, args: Any = None,
              kwargs: Any = None, **_: Any) -> None:
    if lifecycle.is_tracked(task):
        lifecycle.on_started(task, task_id, args, kwargs)


def on_success(sender: Any = None, **_: Any) -> None:
    if lifecycle.is_tracked(sender):
        lifecycle.on_outcome(sender, sender.request.id, JobStatus.SUCCEEDED, None)


def on_failure(sender: Any = None, task_id: Any = None, exception: Any = None,
               einfo: Any = None, **_: Any) -> None:
    if lifecycle.is_tracked(sender):
        lifecycle.on_failure(sender, task_id, exception, getattr(einfo, "traceback", None))


def on_retry(sender: Any = None, request: Any = None, reason: Any = None, einfo: Any = None,
             **_: Any) -> None:
    if lifecycle.is_tracked(sender):
        lifecycle.on_retry(sender, request.id, reason, getattr(einfo, "traceback", None))


def on_postrun(sender: Any = None, task_id: Any = None, state: Any = None, **_: Any) -> None:
    if lifecycle.is_tracked(sender):
        lifecycle.on_finished(sender, task_id, state)


def on_revoked(sender: Any = None, request: Any = None, expired: Any = False,
               terminated: Any = False, signum: Any = None, **_: Any) -> None:
    if lifecycle.is_tracked(sender):
        revokes.on_revoked(sender, request, bool(expired), bool(terminated), signum)


def on_process_init(**_: Any) -> None:
    for app in _apps:
        get_tracker(app).running.pool_child = True


def on_process_shutdown(**_: Any) -> None:
    for app in _apps:
        get_tracker(app).close()


def on_worker_ready(sender: Any = None, **_: Any) -> None:
    hostname = getattr(sender, "hostname", None)
    worker = getattr(sender, "controller", None)  # the sender is the worker's consumer
    for app in _apps:
        lifecycle.on_worker_ready(app, hostname, worker)
        start_housekeeper(app, hostname)
        watch_revokes(get_tracker(app))


def on_worker_shutdown(**_: Any) -> None:
    for app in _apps:
        lifecycle.on_worker_stopping(app)
        stop_housekeeper(app)
        get_tracker(app).close()


_RECEIVERS = (
    (signals.before_task_publish, on_before_publish),
    (signals.task_prerun, on_prerun),
    (signals.task_success, on_success),
    (signals.task_failure, on_failure),
    (signals.task_retry, on_retry),
    (signals.task_postrun, on_postrun),
    (signals.task_revoked, on_revoked),
    (signals.worker_process_init, on_process_init),
    (signals.worker_process_shutdown, on_process_shutdown),
    (signals.worker_ready, on_worker_ready),
    (signals.worker_shutdown, on_worker_shutdown),
)


def connect(app: Any) -> None:
    """Track ``app``'s tracked tasks in this process (idempotent)."""
    _apps.add(app)
    for signal, receiver in _RECEIVERS:
        signal.connect(receiver, weak=False, dispatch_uid=f"regiq.{receiver.__name__}")


def disconnect(app: Any) -> None:
    """Undo :func:`connect` for ``app`` (idempotent).

    Its tasks are no longer looked up at publish, and worker start, stop and process
    signals no longer run its housekeeping or close its tracker. The receivers stay
    connected for the other apps of the process.
    """
    _apps.discard(app)
