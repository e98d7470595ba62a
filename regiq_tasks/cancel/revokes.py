"""Revokes from outside regiq (Flower, ``celery control revoke``), seen from the worker.

Celery handles its ``revoke`` control command in the worker's main process:

* With terminate, it kills the pool process running the job, stores REVOKED and sends
  the ``task_revoked`` signal (``terminated=True``); ``lifecycle.on_revoked`` ends the
  job ``cancelled``, and :func:`announce_revoked` repeats the ``task-revoked`` event so
  that Flower leaves the job's PROGRESS state (see below), once at once and once more
  when the pool process has exited (:class:`RevokedAfterExit`).
* Without terminate, it only adds the id to its in-memory revoked set
  (``celery.worker.state.revoked``): a running job is not told and no signal fires.
  :class:`RevokeWatch`, a duty of the main process's writer thread, compares that set
  with the worker's active requests and turns a revoke of a running tracked job into
  the cancel request ``cancel_job`` writes: the job stops at its next check, and one
  that never checks keeps its real outcome with the cancel record.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any
from weakref import WeakKeyDictionary

import psutil
import redis
from celery.states import REVOKED
from celery.worker import state as worker_state
from kombu.exceptions import KombuError
from redis import RedisError

from regiq_tasks.states import JobStatus
from regiq_tasks.store.record import iso
from regiq_tasks.tracking import lifecycle, transitions
from regiq_tasks.tracking.task import TrackedTask
from regiq_tasks.tracking.tracker import get_tracker

logger = logging.getLogger(__name__)

REVOKE_WATCH_INTERVAL = 0.2  # s: the worker's revoked set is compared this often
OUTSIDE_REASON = "revoked outside regiq"
AFTER_EXIT_INTERVAL = 0.05  # s: how often terminated jobs' pool processes are looked at
EXIT_WAIT = 5.0  # s: a terminated job's process still there then is announced anyway


class RevokeWatch:
    """Turns Celery revokes (without terminate) of running tracked jobs into cancel requests.

    Runs in the worker's main process, where Celery keeps the revoked set and the active
    requests; reads both and writes nothing to them.
    """

    def __init__(self, tracker: Any) -> None:
        self.tracker = tracker
        self.requested: set[str] = set()  # ids already asked to stop

    def __call__(self) -> None:
        try:
            active = [r for r in list(worker_state.active_requests)
                      if isinstance(r.task, TrackedTask) and r.task.app is self.tracker.app]
        except RuntimeError:  # the main thread changed the set while it was copied
            return
        self.requested &= {r.id for r in active}
        for request in active:
            if request.id in worker_state.revoked and request.id not in self.requested:
                self._request_cancel(request.id)  # a Redis error: tried again next round
                self.requested.add(request.id)

    def _request_cancel(self, job_id: str) -> None:
        now = time.time()
        cancel = {"requested": True, "reason": OUTSIDE_REASON, "requested_by": None,
                  "requested_at": iso(now), "terminate": False}
        outcome, _ = self.tracker.store.request_cancel(job_id, cancel, False, now)
        logger.info("regiq: job %s was revoked outside regiq: cancel %s", job_id, outcome)


def announce_revoked(app: Any, request: Any, **fields: Any) -> None:
    """Send ``task-revoked`` again, with ``state=REVOKED``, for a job that may show PROGRESS.

    Celery's event state (what Flower shows) ranks any custom state, PROGRESS included,
    above REVOKED, and so keeps PROGRESS after Celery's own ``task-revoked``; an event
    that carries the ``state`` field sets it all the same.

    Sent on a connection of its own, never one of the app's pooled ones. A terminate
    makes the pool fork a replacement process, and kombu's after-fork cleanup in that
    child closes the pooled connections it inherited: on AMQP that shuts the socket
    down under the main process too, so its next publish on the pool fails once
    (``ConnectionResetError``) and, without retries, this event was lost (about one
    terminate in five on RabbitMQ). A plain connection is in no pool, so no child
    touches it; terminates are rare, a connection each costs nothing.
    """
    try:
        with app.connection_for_write() as connection, app.events.Dispatcher(
                connection, hostname=request.hostname) as dispatcher:
            dispatcher.send("task-revoked", uuid=request.id, retry=False, state=REVOKED,
                            **fields)
    except (OSError, KombuError, RedisError) as exc:  # a courtesy to Flower, never an error
        logger.debug("regiq: task-revoked event of job %s not sent: %s", request.id, exc)


class RevokedAfterExit:
    """Sends ``task-revoked`` once more when a terminated job's pool process is gone.

    The pool child may publish a ``task-progress`` event just before the signal lands,
    over its own broker connection: on RabbitMQ that event can reach Flower after the
    worker's ``task-revoked``, and Celery's event state then keeps PROGRESS. Once the
    child has exited it can send nothing more, so the event sent then is the last word.
    A duty of the main process's writer thread; a child still there after
    ``EXIT_WAIT`` seconds is announced all the same.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self._pending: list[tuple[int | None, float, Any, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def add(self, pid: int | None, request: Any, fields: dict[str, Any]) -> None:
        with self._lock:
            self._pending.append((pid, time.monotonic() + EXIT_WAIT, request, fields))

    def __call__(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = [p for p in self._pending if now >= p[1] or not _alive(p[0])]
            self._pending = [p for p in self._pending if p not in due]
        for _pid, _deadline, request, fields in due:
            announce_revoked(self.app, request, **fields)


def _alive(pid: int | None) -> bool:
    """Whether process ``pid`` still runs (a zombie waiting to be reaped does not)."""
    if pid is None:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


_after_exit: WeakKeyDictionary[Any, RevokedAfterExit] = WeakKeyDictionary()


def watch_revokes(tracker: Any) -> None:
    """Start the main process's revoke duties (:class:`RevokeWatch`,
    :class:`RevokedAfterExit`) in its writer thread; called once the worker is ready."""
    tracker.add_duty("revoke-watch", REVOKE_WATCH_INTERVAL, RevokeWatch(tracker))
    announcer = _after_exit.setdefault(tracker, RevokedAfterExit(tracker.app))
    tracker.add_duty("revoked-after-exit", AFTER_EXIT_INTERVAL, announcer)


def on_revoked(task: Any, request: Any, expired: bool, terminated: bool = False,
               signum: Any = None) -> None:
    """Celery revoked a job (from regiq, Flower or ``celery control``): cancelled.

    A queued job never ran; a terminated one ends ``cancelled`` too (never ``failed``),
    its cancel record saying so and naming the signal. The running process's own end
    is not written (see :func:`on_finished`), so no failure alert is raised.
    """
    now = time.time()
    tracker = get_tracker(task.app)
    reason = "expired" if expired else OUTSIDE_REASON
    cancel: dict[str, Any] = {"requested": True, "reason": reason, "requested_by": None,
                              "requested_at": iso(now)}
    fill = {**transitions.identity(request.id, task.name, now,
                                   lifecycle.job_lineage(request.get, request.id,
                                            request.get(lifecycle.PIPELINE_HEADER))),
            **transitions.task_options(task), "cancel": cancel}
    change = transitions.ended_elsewhere(request.id, JobStatus.CANCELLED, now, None, fill)
    if terminated:
        _terminated(task, request, change, cancel, signal_name(signum))
    tracker.submit(lifecycle.ending(change, task))


def _terminated(task: Any, request: Any, change: Any, cancel: dict[str, Any],
                signame: str | None) -> None:
    """Make a revoke's change say that the job was terminated, and by which signal."""
    earlier = _cancel_record(get_tracker(task.app), request.id)
    change.set["cancel"] = {**(earlier or cancel), "terminated": True, "signal": signame}

    def on_result(status: str, _cancelled: bool) -> None:
        if status == JobStatus.CANCELLED:
            fields = {"terminated": True, "signum": signame, "expired": False}
            announce_revoked(task.app, request, **fields)
            announcer = _after_exit.get(get_tracker(task.app))
            if announcer is not None:  # runs in the writer thread: never starts a duty
                announcer.add(getattr(request, "worker_pid", None), request, fields)
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
