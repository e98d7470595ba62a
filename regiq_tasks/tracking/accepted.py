"""The mark a worker's main process leaves on a job before Celery acknowledges its message.

With Celery's default early acknowledgement the main process acknowledges a message
when a pool process takes it, a moment before that process writes the job ``running``.
A worker killed in that moment (SIGKILL, OOM, a host gone) leaves a job whose message
is gone and whose record says ``queued`` for good: nobody would ever run or end it.

So before acknowledging, :class:`AcceptedRequest` (the ``Request`` class of
:class:`~regiq_tasks.tracking.task.TrackedTask`) puts the job in the running set with
the current time, if and only if its record is still ``queued`` or not written yet (the
publisher's write is batched and may come later), in one atomic script; a job that has
already started or ended is left alone.
The pool process's start write follows as ever and heartbeats take over; if the worker
dies first, the reaper finds the job without heartbeat after ``lost_after`` and ends it
``lost``, like the jobs that were running there.

The mark must be on its way to Redis before the acknowledgement, without making the
main process wait a round trip per message: it is sent on a connection of its own that
asked Redis for no replies (``CLIENT REPLY OFF``), so the main process only writes to
a socket. A kernel delivers what was written before a process dies; with no replies
pending, its socket closes cleanly. Messages of ``acks_late`` tasks are acknowledged
after their task and come back if the worker dies: they get no mark.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from celery.worker.request import Request

from regiq_tasks.store import bare_script
from regiq_tasks.tracking.tracker import get_tracker

logger = logging.getLogger(__name__)

# s: after a failed send, marks are skipped this long, doubling up to RETRY_MAX while
# they keep failing (a connect to an unreachable Redis may block up to its timeout)
RETRY_AFTER, RETRY_MAX = 1.0, 30.0
MARK = bare_script("accept_mark.lua")  # sent with EVAL: Redis caches it by its text


class AcceptMarks:
    """One process's fire-and-forget connection for accept marks (see the module)."""

    def __init__(self, tracker: Any) -> None:
        self.tracker = tracker
        self._conn: Any = None
        self._skip_until = 0.0
        self._pause = RETRY_AFTER
        self._warned = False

    def mark(self, job_id: str) -> None:
        """Send the mark of ``job_id``; a failure is logged, never raised."""
        if time.monotonic() < self._skip_until:
            return
        keys = self.tracker.keys
        try:
            conn = self._conn or self._connect()
            conn.send_packed_command(conn.pack_command(
                "EVAL", MARK, 2, keys.job(job_id), keys.running, job_id), check_health=False)
        except (redis.RedisError, OSError) as exc:
            self.close()
            self._skip_until = time.monotonic() + self._pause
            self._pause = min(RETRY_MAX, self._pause * 2)
            if not self._warned:
                logger.warning("regiq: accept mark of job %s not sent (%s); a worker that "
                               "dies now may leave a job queued", job_id, exc)
                self._warned = True
            return
        self._warned = False
        self._pause = RETRY_AFTER

    def _connect(self) -> Any:
        conn = self.tracker.redis.connection_pool.make_connection()
        conn.connect()
        conn.send_command("CLIENT", "REPLY", "OFF", check_health=False)
        self._conn = conn
        return conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.disconnect()
            except (redis.RedisError, OSError):
                pass
            self._conn = None


def accept_marks(tracker: Any) -> AcceptMarks:
    """The tracker's :class:`AcceptMarks` (made on first use in its process)."""
    if tracker.accept_marks is None:
        tracker.accept_marks = AcceptMarks(tracker)
    marks: AcceptMarks = tracker.accept_marks
    return marks


class AcceptedRequest(Request):  # type: ignore[misc]
    """Celery's worker request, marking a tracked job before its message is acknowledged."""

    def on_accepted(self, pid: Any, time_accepted: float) -> None:
        if not self.task.acks_late:
            try:
                accept_marks(get_tracker(self.task.app)).mark(self.id)
            except Exception:  # tracking never stops a job's message being acknowledged
                logger.warning("regiq: accept mark of job %s failed", self.id, exc_info=True)
        super().on_accepted(pid, time_accepted)
