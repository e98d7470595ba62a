"""The per-app, per-process tracking context: settings, Redis client, store, writer.

A :class:`Tracker` is created lazily for a Celery app the first time it is needed and
rebuilt after a fork (prefork pool children get their own Redis pool and writer thread).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import redis
from sqlalchemy.engine import Engine

from .config import Settings
from .history.db import make_engine, upgrade
from .keys import Keys
from .runtime import JobRuntime, ResourceSampler
from .store import Change, LiveStore
from .writer import Periodic, Writer

logger = logging.getLogger(__name__)

HEARTBEAT_MAX_INTERVAL = 10.0  # s: running jobs are heartbeated at least this often
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
        self._lock = threading.Lock()

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
    def writer(self) -> Writer:
        """The background writer of this process (started on first use)."""
        if self._writer is None:
            with self._lock:
                if self._writer is None:
                    s = self.settings
                    beat = min(HEARTBEAT_MAX_INTERVAL, s.lost_after / 4)
                    self._writer = Writer(self.store, s.flush_interval, [
                        Periodic(beat, self._heartbeat),
                        Periodic(s.resource_interval, self._sample)])
        return self._writer

    def _heartbeat(self) -> None:
        if self.runtimes:
            self.store.heartbeat(list(self.runtimes))

    def _sample(self) -> None:
        if self.runtimes:
            self.sampler.sample(list(self.runtimes.values()))

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
        if not self.sampler.last_rss:
            self.sampler.sample([])
        rt.peak_rss = self.sampler.last_rss
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
