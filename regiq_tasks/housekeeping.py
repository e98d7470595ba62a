"""Housekeeping that runs inside every worker: archiver, lost-job reaper, live expiry.

Each worker's main process starts one daemon thread at ``worker_ready``. Each duty is
guarded by its own Redis lease, so exactly one worker does it at a time and another
takes over within the lease TTL when that worker stops. No beat, no extra process.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis
from sqlalchemy.exc import SQLAlchemyError

from .alerts import hooks as alert_hooks
from .archive import Archiver
from .lease import Lease
from .record import iso
from .states import JobStatus
from .store import Change
from .tracker import Tracker, get_tracker

logger = logging.getLogger(__name__)

LEASE_TTL = 10.0  # s: a duty moves to another worker this long after its holder stops
TICK = 0.5  # s: longest wait of one loop turn (the archiver blocks on the stream this long)
EXPIRY_INTERVAL = 5.0  # s between live-store expiry passes
ERROR_BACKOFF = 2.0  # s to wait after a failed pass
ARCHIVE_PAUSE = 0.5  # s to let finished jobs gather after a short batch (rows within ~1 s)
_ATTR = "_regiq_housekeeper"


def reap_lost(tracker: Tracker) -> int:
    """Mark running jobs whose process stopped heartbeating as ``lost``; returns count."""
    store, lost_after = tracker.store, tracker.settings.lost_after
    cutoff, ids = store.stale(lost_after)
    if not ids:
        return 0
    now = time.time()
    error = {"type": "WorkerLostError",
             "message": f"no heartbeat from the job's worker for {lost_after:g} s",
             "traceback": None}
    changes = [Change(job_id, JobStatus.LOST, set={"finished_at": now, "error": error},
                      reap_cutoff=cutoff) for job_id in ids]
    results = store.apply_many(changes)
    alert_hooks.on_reaped(tracker.app, ids, results)
    lost = sum(1 for status, _ in results if status == JobStatus.LOST)
    if lost:
        logger.warning("regiq: %d job(s) lost (no heartbeat since %s)", lost, iso(cutoff))
    return lost


class Housekeeper:
    """The worker thread that archives, reaps and expires under Redis leases."""

    def __init__(self, app: Any) -> None:
        self.tracker = get_tracker(app)
        client = self.tracker.redis
        keys = self.tracker.keys
        self.leases = {name: Lease(client, keys.lock(name), LEASE_TTL)
                       for name in ("archiver", "reaper", "expiry")}
        self._archiver: Archiver | None = None
        self._stop = threading.Event()
        self._next_reap = self._next_expiry = 0.0
        self.thread = threading.Thread(target=self._run, name="regiq-housekeeper", daemon=True)

    def _make_archiver(self) -> Archiver:
        if self._archiver is None:
            s = self.tracker.settings
            self._archiver = Archiver(self.tracker.store, self.tracker.engine, s.live_ttl,
                                      s.archive_batch)
        return self._archiver

    def turn(self) -> None:
        """One pass over the duties this worker holds the lease for."""
        now = time.monotonic()
        reap_every = min(5.0, self.tracker.settings.lost_after / 4)
        if now >= self._next_reap and self.leases["reaper"].hold():
            self._next_reap = now + reap_every
            reap_lost(self.tracker)
            alert_hooks.check_overdue(self.tracker)  # job_overdue, under the reaper lease
        if now >= self._next_expiry and self.leases["expiry"].hold():
            self._next_expiry = now + EXPIRY_INTERVAL
            self.tracker.store.expire_due()
        if self.leases["archiver"].hold():
            archiver = self._make_archiver()
            if archiver.run_once(block_ms=int(TICK * 1000)) < archiver.batch_size:
                self._stop.wait(ARCHIVE_PAUSE)  # batch by time, not one job per pass
        else:
            self._stop.wait(TICK)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.turn()
            except (redis.RedisError, SQLAlchemyError, OSError) as exc:
                logger.warning("regiq housekeeping pass failed (will retry): %s", exc)
                self._stop.wait(ERROR_BACKOFF)
            except Exception:
                logger.exception("regiq housekeeping pass failed (will retry)")
                self._stop.wait(ERROR_BACKOFF)

    def start(self) -> None:
        """Start the thread."""
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and give up the leases."""
        self._stop.set()
        self.thread.join(timeout)
        for lease in self.leases.values():
            try:
                lease.release()
            except redis.RedisError:
                pass


def start_housekeeper(app: Any, hostname: str | None = None) -> Housekeeper:
    """Start the housekeeping thread of this worker for ``app`` (idempotent)."""
    keeper: Housekeeper | None = app.__dict__.get(_ATTR)
    if keeper is None or not keeper.thread.is_alive():
        keeper = Housekeeper(app)
        setattr(app, _ATTR, keeper)
        keeper.start()
        logger.info("regiq housekeeping started on %s", hostname or "this worker")
    return keeper


def stop_housekeeper(app: Any) -> None:
    """Stop this worker's housekeeping thread for ``app``, if running."""
    keeper: Housekeeper | None = app.__dict__.pop(_ATTR, None)
    if keeper is not None:
        keeper.stop()
