"""Cancellation in the worker: refused starts, cancel flags read back, forced terminate.

Nothing here decides that a job is cancelled: the store's record does (see the package
docstring). These functions make the running process act on it.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Any, NoReturn

import redis
from celery.exceptions import Ignore
from celery.states import REVOKED
from kombu.exceptions import KombuError

from regiq_tasks.states import FINAL_STATUSES, JobStatus
from regiq_tasks.tracking.runtime import JobRuntime

logger = logging.getLogger(__name__)

CANCEL_WATCH_INTERVAL = 0.2  # s: running jobs' cancel flags are read back this often
KILL_AFTER_TERM = 3.0  # s: a pool child still alive this long after SIGTERM gets SIGKILL
REVOKE_TERMINATE_WAIT = 5.0  # s: a terminate asked of the worker that has not come by
#                               then is done by the pool child itself


def on_start_result(rt: JobRuntime, result: tuple[str, bool] | None) -> None:
    """Act on the reply to a job's start write: a final record means it never runs (it
    was cancelled while queued, or its message is delivered again after it ended)."""
    if result is not None and result[0] in FINAL_STATUSES:
        rt.skip = result[0]
        rt.cancelled = result[0] == JobStatus.CANCELLED
    elif result is not None and result[1]:
        rt.cancelled = True


def mark_cancelled(rt: JobRuntime, cancelled: bool) -> None:
    """A store reply (a progress flush) carried the job's cancel flag."""
    if cancelled:
        rt.cancelled = True


def end_revoked(task: Any, rt: JobRuntime) -> NoReturn:
    """End a cancelled run as Celery ends a revoked one: REVOKED, not FAILURE.

    Stores REVOKED in the result backend (``AsyncResult``, chords and Flower agree),
    sends a ``task-revoked`` event and raises ``Ignore``, so the worker logs the run
    at INFO and sends no failure. The ``state`` field makes Celery's event state
    (Flower) take REVOKED after a custom PROGRESS state, which it would otherwise
    keep: it ranks any custom state above REVOKED.
    """
    rt.outcome = (JobStatus.CANCELLED, None)
    req = task.request
    try:
        task.backend.mark_as_revoked(
            rt.job_id, "cancelled", request=req,
            store_result=not req.ignore_result or task.store_errors_even_if_ignored)
    except Exception as exc:
        logger.warning("regiq: REVOKED state of job %s not stored: %s", rt.job_id, exc)
    try:
        if req.hostname:
            task.send_event("task-revoked", retry=False, terminated=False, signum=None,
                            expired=False, state=REVOKED)
    except Exception as exc:
        logger.debug("regiq: task-revoked event not sent: %s", exc)
    raise Ignore()


class CancelWatch:
    """Reads back the cancel flags of this process's running jobs; terminates overdue ones.

    A duty of the process's writer thread (every ``CANCEL_WATCH_INTERVAL``).
    """

    def __init__(self, tracker: Any) -> None:
        self.tracker = tracker

    def __call__(self) -> None:
        running = self.tracker.running
        runtimes = list(running.runtimes.values())
        if not runtimes:
            return
        now = time.monotonic()
        flags = self.tracker.store.cancel_flags([rt.job_id for rt in runtimes])
        for rt, (requested, terminate) in zip(runtimes, flags):
            if requested:
                rt.cancelled = True
            if terminate and rt.terminate_at is None:
                rt.terminate_at = now + self.tracker.settings.cancel_grace
            if rt.terminate_at is not None and now >= rt.terminate_at:
                self.terminate(rt)

    def terminate(self, rt: JobRuntime) -> None:
        """Stop this pool child while, and only while, it still runs ``rt``'s job."""
        running = self.tracker.running
        if not running.pool_child:
            logger.warning("regiq: job %s asked to terminate, but this pool cannot terminate "
                           "a task; it stops at its next progress()/check_cancelled()",
                           rt.job_id)
            rt.terminate_at = float("inf")
            return
        with running.finish_lock:
            if running.runtimes.get(rt.job_id) is not rt:
                return  # it finished meanwhile: never hit the next job
            logger.warning("regiq: terminating job %s after the cancel grace period", rt.job_id)
            self.tracker.flush(timeout=1.0)
            if self._revoke_terminate(rt):
                time.sleep(REVOKE_TERMINATE_WAIT)  # the worker kills this process meanwhile
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(KILL_AFTER_TERM)
            os.kill(os.getpid(), signal.SIGKILL)

    def _revoke_terminate(self, rt: JobRuntime) -> bool:
        """Ask this worker to terminate ``rt``'s job as Celery does; False if not sent.

        Celery's terminate stores REVOKED, sends ``task-revoked`` and the ``task_revoked``
        signal, which ends the job ``cancelled`` (the caller holds ``finish_lock``, so
        the job cannot end and the process cannot take another one meanwhile).
        """
        if not rt.worker:
            return False
        try:
            self.tracker.app.control.revoke(rt.job_id, terminate=True, signal="SIGTERM",
                                            destination=[rt.worker])
            return True
        except (OSError, KombuError, redis.RedisError) as exc:  # broker down: do it here
            logger.warning("regiq: terminate of job %s not sent to the worker: %s",
                           rt.job_id, exc)
            return False
