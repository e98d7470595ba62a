"""The per-app, per-process tracking context: settings, Redis client, store, writer.

A :class:`Tracker` is created lazily for a Celery app the first time it is needed and
rebuilt after a fork (prefork pool children get their own Redis pool and writer thread).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from kombu.exceptions import KombuError
from sqlalchemy.engine import Engine

from . import transitions
from .config import Settings
from .history.db import make_engine, open_existing, upgrade
from .keys import Keys
from .runtime import JobRuntime, ResourceSampler
from .store import Change, LiveStore
from .writer import Periodic, Writer

logger = logging.getLogger(__name__)

HEARTBEAT_MAX_INTERVAL = 10.0  # s: running jobs are heartbeated at least this often
CANCEL_WATCH_INTERVAL = 0.2  # s: running jobs' cancel flags are read back this often
KILL_AFTER_TERM = 3.0  # s: a pool child still alive this long after SIGTERM gets SIGKILL
REVOKE_TERMINATE_WAIT = 5.0  # s: a terminate asked of the worker that has not come by
#                               then is done by the pool child itself
_ATTR = "_regiq_tracker"
_create_lock = threading.Lock()


class Tracker:
    """Everything one process needs to track the jobs of one Celery app."""

    def __init__(self, app: Any, settings: Settings | None = None) -> None:
        self.app = app
        self.settings = settings or Settings.from_app(app)
        self.keys = Keys(self.settings.key_prefix)
        self.pid = os.getpid()
        self.runtimes: dict[str, JobRuntime] = {}
        self.sampler = ResourceSampler()
        self._redis: redis.Redis | None = None
        self._store: LiveStore | None = None
        self._writer: Writer | None = None
        self._engine: Engine | None = None
        self._existing_engine: Engine | None = None
        self._lock = threading.Lock()
        self._duties: set[str] = set()  # names of the duties added with add_duty
        self.finish_lock = threading.Lock()  # held to unregister a job or to terminate one
        self.pool_child = False  # a prefork pool child: may terminate itself on cancel

    @property
    def redis(self) -> redis.Redis:
        """The tracking Redis client of this process."""
        if self._redis is None:
            s = self.settings
            self._redis = redis.Redis.from_url(
                s.redis_url, socket_timeout=s.redis_timeout,
                socket_connect_timeout=s.redis_timeout, health_check_interval=30)
        return self._redis

    @property
    def store(self) -> LiveStore:
        """The live store of this process."""
        if self._store is None:
            self._store = LiveStore(self.redis, self.keys, self.settings.events_maxlen)
        return self._store

    @property
    def engine(self) -> Engine:
        """The history database engine of this process (schema brought to head once)."""
        with self._lock:
            if self._engine is None:
                url = self.settings.sqlalchemy_url
                if self.settings.auto_migrate:
                    upgrade(url)  # Alembic is not thread-safe: under the lock
                self._engine = make_engine(url)
        return self._engine

    @property
    def existing_engine(self) -> Engine:
        """The history engine of readers (the CLI, the monitor, the Python API): it never
        creates the database, its folder or its schema; HistoryNotFound until a worker or
        ``regiq db upgrade`` did (asked again on every call until then)."""
        with self._lock:
            if self._engine is not None:
                return self._engine
            if self._existing_engine is None:
                self._existing_engine = open_existing(self.settings.sqlalchemy_url)
            return self._existing_engine

    @property
    def writer(self) -> Writer:
        """The background writer of this process (started on first use)."""
        if self._writer is None:
            with self._lock:
                if self._writer is None:
                    s = self.settings
                    beat = min(HEARTBEAT_MAX_INTERVAL, s.lost_after / 4)
                    self._writer = Writer(self.store, s.flush_interval, [
                        Periodic(beat, self._heartbeat),
                        Periodic(s.resource_interval, self._sample),
                        Periodic(CANCEL_WATCH_INTERVAL, self._watch_cancels)])
        return self._writer

    def _heartbeat(self) -> None:
        if not self.runtimes:
            return
        for job_id in self.store.heartbeat(list(self.runtimes)):
            rt = self.runtimes.get(job_id)
            if rt is not None:  # Redis lost it (came back empty): write it again
                self.writer.submit(transitions.resumed(rt))

    def _sample(self) -> None:
        if self.runtimes:
            self.sampler.sample(list(self.runtimes.values()))

    def _watch_cancels(self) -> None:
        """Read back cancel requests of the running jobs; terminate overdue ones."""
        runtimes = list(self.runtimes.values())
        if not runtimes:
            return
        now = time.monotonic()
        flags = self.store.cancel_flags([rt.job_id for rt in runtimes])
        for rt, (requested, terminate) in zip(runtimes, flags):
            if requested:
                rt.cancelled = True
            if terminate and rt.terminate_at is None:
                rt.terminate_at = now + self.settings.cancel_grace
            if rt.terminate_at is not None and now >= rt.terminate_at:
                self._terminate(rt)

    def _terminate(self, rt: JobRuntime) -> None:
        """Stop this pool child while, and only while, it still runs ``rt``'s job."""
        if not self.pool_child:
            logger.warning("regiq: job %s asked to terminate, but this pool cannot terminate "
                           "a task; it stops at its next progress()/check_cancelled()",
                           rt.job_id)
            rt.terminate_at = float("inf")
            return
        with self.finish_lock:
            if self.runtimes.get(rt.job_id) is not rt:
                return  # it finished meanwhile: never hit the next job
            logger.warning("regiq: terminating job %s after the cancel grace period", rt.job_id)
            self.flush(timeout=1.0)
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
            self.app.control.revoke(rt.job_id, terminate=True, signal="SIGTERM",
                                    destination=[rt.worker])
            return True
        except (OSError, KombuError, redis.RedisError) as exc:  # broker down: do it here
            logger.warning("regiq: terminate of job %s not sent to the worker: %s",
                           rt.job_id, exc)
            return False

    def add_duty(self, name: str, interval: float, fn: Callable[[], Any]) -> None:
        """Run ``fn`` every ``interval`` seconds in this process's writer thread (once
        per ``name``)."""
        with self._lock:
            if name in self._duties:
                return
            self._duties.add(name)
        self.writer.periodic.append(Periodic(interval, fn))
        self.writer.start()

    def submit(self, change: Change) -> None:
        """Queue a change for the background writer."""
        self.writer.submit(change)

    def flush(self, timeout: float = 5.0) -> bool:
        """Write every queued change of this process now."""
        return self._writer.flush(timeout) if self._writer is not None else True

    def close(self, timeout: float = 5.0) -> None:
        """Flush and stop the writer thread."""
        if self._writer is not None:
            self._writer.close(timeout)

    def register(self, rt: JobRuntime) -> None:
        """Record a job as running in this process."""
        if self.runtimes:
            rt.shared_process = True
            for other in self.runtimes.values():
                other.shared_process = True
        # A fresh sample (~10 µs): the last one may be from an earlier, bigger job.
        rt.peak_rss = self.sampler.sample([])
        self.runtimes[rt.job_id] = rt

    def unregister(self, job_id: str) -> JobRuntime | None:
        """Forget a job that stopped running in this process."""
        return self.runtimes.pop(job_id, None)


def get_tracker(app: Any) -> Tracker:
    """The tracker of ``app`` in this process (created on first use, renewed after fork)."""
    tracker: Tracker | None = app.__dict__.get(_ATTR)
    if tracker is not None and tracker.pid == os.getpid():
        return tracker
    with _create_lock:
        tracker = app.__dict__.get(_ATTR)
        if tracker is None or tracker.pid != os.getpid():
            settings = tracker.settings if tracker is not None else None
            tracker = Tracker(app, settings)
            setattr(app, _ATTR, tracker)
    return tracker


def reset_tracker(app: Any) -> None:
    """Drop the app's tracker so that settings are read again (tests, reconfiguration)."""
    tracker = app.__dict__.pop(_ATTR, None)
    if tracker is not None and tracker.pid == os.getpid():
        tracker.close()
