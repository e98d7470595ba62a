"""The per-process background writer: queued store changes flushed in batches.

A task's own thread never waits on Redis for progress or final transitions: it appends a
:class:`~regiq_tasks.store.Change` to an in-process queue and goes on. One daemon thread
per process applies queued changes in pipelined batches every ``flush_interval`` and runs
the periodic duties of the process (job heartbeats, resource samples). When Redis is
unreachable, changes stay queued (bounded) and are retried with backoff, so tracking
resumes, in order, once Redis is back. The queue is flushed on process shutdown.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import redis

from regiq_tasks.store import Change, LiveStore
from regiq_tasks.tracking.logbuffer import PendingLogs

logger = logging.getLogger(__name__)

MAX_BATCH = 500  # changes per pipelined round trip
MAX_QUEUED = 200_000  # changes kept while Redis is down; the oldest are dropped beyond
MAX_BACKOFF = 2.0  # s between retries while Redis is down
BREAKER_OPEN = 1.0  # s that synchronous writes go straight to the queue after a failure


class Periodic:
    """A duty the writer thread runs every ``interval`` seconds."""

    def __init__(self, interval: float, fn: Callable[[], Any]) -> None:
        self.interval = interval
        self.fn = fn
        self.due = 0.0

    def run_if_due(self, now: float) -> None:
        if now < self.due:
            return
        self.due = now + self.interval
        try:
            self.fn()
        except Exception:  # a duty must never stop the writer
            logger.warning("regiq periodic duty %r failed", self.fn, exc_info=True)


class Writer:
    """Queues changes and applies them in batches from one daemon thread."""

    def __init__(self, store: LiveStore, flush_interval: float,
                 periodic: list[Periodic] | None = None,
                 on_applied: Callable[[list[Change], list[tuple[str, bool]]], None] | None = None,
                 logs: PendingLogs | None = None) -> None:
        self.store = store
        self.logs = logs  # the jobs' log lines: appended first in each batch
        self.on_applied = on_applied  # told of every applied batch (the tracker's hooks)
        self.flush_interval = flush_interval
        self.periodic = periodic or []
        self._queue: deque[Change] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one flusher at a time
        self._thread: threading.Thread | None = None
        self._breaker_until = 0.0
        self._backoff = 0.0
        self._warned = False
        self.dropped = 0  # queued changes dropped (queue full while Redis was down)

    # -- task side -------------------------------------------------------------------
    def submit(self, change: Change, urgent: bool = False) -> None:
        """Queue a change; the writer thread applies it within ``flush_interval``, or at
        once if ``urgent``."""
        if self._thread is None:
            self.start()
        if len(self._queue) >= MAX_QUEUED:
            dropped = self._queue.popleft()
            self.dropped += 1
            logger.error("regiq: live store unreachable, dropped a queued change of job %s "
                         "(%d dropped by this process)", dropped.job_id, self.dropped)
        self._queue.append(change)
        if urgent or len(self._queue) >= MAX_BATCH:
            self._wake.set()

    def apply_now(self, change: Change) -> tuple[str, bool] | None:
        """Apply a change synchronously; queue it instead while Redis is failing."""
        if self._thread is None:
            self.start()  # the periodic duties (heartbeats, cancel watch) run from now on
        if self._breaker_until > time.monotonic():
            self.submit(change)
            return None
        if not self._queue:
            try:
                return self.store.apply(change)
            except redis.RedisError as exc:
                self._trip(exc)
                self.submit(change)
                return None
        # Changes queued earlier go first, in the same pipelined round trip.
        holder: list[tuple[str, bool]] = []
        then = change.on_result

        def capture(status: str, cancelled: bool) -> None:
            holder.append((status, cancelled))
            if then is not None:
                then(status, cancelled)

        change.on_result = capture
        self.submit(change)
        self.flush_once()
        return holder[0] if holder else None

    def pending(self) -> int:
        """Number of changes not yet applied."""
        return len(self._queue)

    # -- writer thread ---------------------------------------------------------------
    def start(self) -> None:
        """Start the writer thread (idempotent; a no-op from the writer thread itself,
        whose flush holds the lock)."""
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="regiq-writer",
                                            daemon=True)
            self._thread.start()
            atexit.register(self.close)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval + self._backoff)
            self._wake.clear()
            self.flush_once()
            now = time.monotonic()
            for duty in self.periodic:
                duty.run_if_due(now)

    def _trip(self, exc: Exception) -> None:
        self._breaker_until = time.monotonic() + BREAKER_OPEN
        self._backoff = min(MAX_BACKOFF, max(0.05, self._backoff * 2))
        if not self._warned:
            logger.warning("regiq: live store unreachable (%s); tracking is queued in "
                           "memory and will resume", exc)
            self._warned = True

    def flush_once(self) -> bool:
        """Apply every queued change now, batch by batch; False if Redis failed."""
        with self._lock:
            while self._queue or self.logs:
                batch = [self._queue.popleft()
                         for _ in range(min(MAX_BATCH, len(self._queue)))]
                # drained after the changes were taken: every line logged before a job's
                # final change was queued goes in this batch, ahead of that change
                lines = self.logs.drain() if self.logs is not None else {}
                try:
                    results = self.store.apply_many(
                        batch, [w.to_append(job_id) for job_id, w in lines.items()])
                except redis.RedisError as exc:
                    self._queue.extendleft(reversed(batch))
                    if self.logs is not None:
                        self.logs.restore(lines)
                    self._trip(exc)
                    return False
                self._deliver(batch, results)
            if self._warned:
                logger.warning("regiq: live store reachable again; queued tracking applied")
            self._warned = False
            self._backoff = 0.0
            self._breaker_until = 0.0
            return True

    def _deliver(self, batch: list[Change], results: list[tuple[str, bool]]) -> None:
        for change, (status, cancelled) in zip(batch, results):
            if change.on_result is not None:
                try:
                    change.on_result(status, cancelled)
                except Exception:
                    logger.warning("regiq: result callback failed", exc_info=True)
        if self.on_applied is not None:
            try:
                self.on_applied(batch, results)
            except Exception:
                logger.warning("regiq: applied-batch callback failed", exc_info=True)

    def flush(self, timeout: float = 5.0) -> bool:
        """Flush from the calling thread, retrying until ``timeout``; True if empty."""
        deadline = time.monotonic() + timeout
        while True:
            if self.flush_once():
                return True
            if time.monotonic() >= deadline:
                logger.error("regiq: %d tracking changes could not be written", len(self._queue))
                return False
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def close(self, timeout: float = 5.0) -> None:
        """Flush what is queued and stop the thread."""
        self._stop.set()
        self._wake.set()
        if self._queue or self.logs:
            self.flush(timeout)
