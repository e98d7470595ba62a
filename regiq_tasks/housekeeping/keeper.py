"""Housekeeping that runs inside every worker: archiver, lost-job reaper, live expiry,
the check for queued jobs whose message vanished (``vanished.py``), and the duties
features add to the app's hooks (``Hooks.duties``).

Each worker's main process starts one daemon thread at ``worker_ready``. Each duty is
guarded by a Redis lease named after it, so exactly one worker does it at a time and
another takes over within the lease TTL when that worker stops. No beat, no extra process.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis
from sqlalchemy.exc import SQLAlchemyError

from regiq_tasks.hooks import Duty
from regiq_tasks.housekeeping.archive import Archiver
from regiq_tasks.housekeeping.lost import end_lost
from regiq_tasks.housekeeping.vanished import check_interval, check_vanished
from regiq_tasks.store.keys import ARCHIVER_LOCK, EXPIRY_LOCK, REAPER_LOCK, VANISHED_LOCK
from regiq_tasks.store.lease import Lease
from regiq_tasks.store.record import iso
from regiq_tasks.tracking.tracker import Tracker, get_tracker

logger = logging.getLogger(__name__)

LEASE_TTL = 10.0  # s: a duty moves to another worker this long after its holder stops
TICK = 0.5  # s: longest wait of one loop turn (the archiver blocks on the stream this long)
EXPIRY_INTERVAL = 5.0  # s between live-store expiry passes
ERROR_BACKOFF = 2.0  # s to wait after a failed pass
ARCHIVE_PAUSE = 0.5  # s to let finished jobs gather after a short batch (rows within ~1 s)
_ATTR = "_regiq_housekeeper"
ARCHIVER, REAPER, EXPIRY = ARCHIVER_LOCK, REAPER_LOCK, EXPIRY_LOCK  # the core duties' leases


def reap_interval(settings: Any) -> float:
    """Seconds between reaper passes: a quarter of ``lost_after``, at most 5."""
    return min(5.0, settings.lost_after / 4)


def reap_lost(tracker: Tracker) -> int:
    """Mark running jobs whose process stopped heartbeating as ``lost``; returns count."""
    store, lost_after = tracker.store, tracker.settings.lost_after
    cutoff, ids = store.stale(lost_after)
    if not ids:
        return 0
    error = {"type": "WorkerLostError",
             "message": f"no heartbeat from the job's worker for {lost_after:g} s",
             "traceback": None}
    lost = end_lost(tracker, ids, error, reap_cutoff=cutoff)
    if lost:
        logger.warning("regiq: %d job(s) lost (no heartbeat since %s)", lost, iso(cutoff))
    return lost


def expire(tracker: Tracker) -> None:
    """Drop archived jobs whose live TTL is over from the live store."""
    tracker.store.expire_due()


CORE_DUTIES = (Duty(REAPER, reap_interval, reap_lost),
               Duty(EXPIRY, lambda _settings: EXPIRY_INTERVAL, expire),
               Duty(VANISHED_LOCK, check_interval, check_vanished))


class Housekeeper:
    """The worker thread that archives, reaps, expires and runs the features' duties,
    each under its Redis lease."""

    def __init__(self, app: Any) -> None:
        self.tracker = get_tracker(app)
        self.duties = [*CORE_DUTIES, *self.tracker.hooks.duties]
        client, keys = self.tracker.redis, self.tracker.keys
        names = {ARCHIVER} | {duty.name for duty in self.duties}
        self.leases = {name: Lease(client, keys.lock(name), LEASE_TTL) for name in names}
        self._archiver: Archiver | None = None
        self._stop = threading.Event()
        self._due = [0.0] * len(self.duties)
        self.thread = threading.Thread(target=self._run, name="regiq-housekeeper", daemon=True)

    def _make_archiver(self) -> Archiver:
        if self._archiver is None:
            s = self.tracker.settings
            self.tracker.migrate()  # the worker's start is where the schema is brought up
            self._archiver = Archiver(self.tracker.store, self.tracker.engine, s.live_ttl,
                                      s.archive_batch)
        return self._archiver

    def _run_duties(self) -> None:
        now = time.monotonic()
        held: dict[str, bool] = {}
        for i, duty in enumerate(self.duties):
            if now < self._due[i]:
                continue
            if duty.name not in held:
                held[duty.name] = self.leases[duty.name].hold()
            if held[duty.name]:
                self._due[i] = now + duty.interval(self.tracker.settings)
                self._run_duty(duty)

    def _run_duty(self, duty: Duty) -> None:
        """Run one duty: a dependency down ends the pass (and backs off); any other
        error of a duty is logged, and the other duties go on."""
        try:
            duty.fn(self.tracker)
        except (redis.RedisError, SQLAlchemyError, OSError):
            raise
        except Exception:
            logger.exception("regiq housekeeping duty %r failed (will retry)", duty.name)

    def turn(self) -> None:
        """One pass over the duties this worker holds the lease for."""
        self._run_duties()
        if self.leases[ARCHIVER].hold():
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
        if self._archiver is not None:
            self._archiver.close()
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
