"""The per-app, per-process tracking context: settings, Redis client, store, writer.

A :class:`Tracker` is created lazily for a Celery app the first time it is needed and
rebuilt after a fork (prefork pool children get their own Redis pool and writer thread).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import redis
from sqlalchemy.engine import Engine

from regiq_tasks.cancel.enforce import CANCEL_WATCH_INTERVAL, CancelWatch
from regiq_tasks.cancel.listen import CancelListener
from regiq_tasks.config import Settings
from regiq_tasks.connect import redis_client
from regiq_tasks.errors import ConfigurationError
from regiq_tasks.history.db import make_engine, open_existing, upgrade
from regiq_tasks.hooks import Hooks, JobEnded, hooks_of
from regiq_tasks.store import Change, LiveStore
from regiq_tasks.store.keys import Keys
from regiq_tasks.tracking import transitions
from regiq_tasks.tracking.logbuffer import PendingLogs
from regiq_tasks.tracking.logcapture import JobLogHandler, install_capture
from regiq_tasks.tracking.running import RunningJobs
from regiq_tasks.tracking.writer import Periodic, Writer

logger = logging.getLogger(__name__)

HEARTBEAT_MAX_INTERVAL = 10.0  # s: running jobs are heartbeated at least this often
_ATTR = "_regiq_tracker"
_create_lock = threading.Lock()


class Tracker:
    """What one process needs to track the jobs of one Celery app: settings, the Redis
    client and live store, the history engine, the background writer, the app's hooks
    and the jobs running here (:class:`~regiq_tasks.tracking.running.RunningJobs`)."""

    def __init__(self, app: Any, settings: Settings | None = None) -> None:
        self.app = app
        self.settings = settings or Settings.from_app(app)
        self.keys = Keys(self.settings.key_prefix)
        self.pid = os.getpid()
        self.hooks: Hooks = hooks_of(app)
        self.running = RunningJobs()
        self.cancels = CancelListener(self)  # started by the first job run here
        self._redis: redis.Redis | None = None
        self._store: LiveStore | None = None
        self._writer: Writer | None = None
        self._engine: Engine | None = None
        self._existing_engine: Engine | None = None
        self._migrated = False
        self._lock = threading.Lock()
        self._duties: set[str] = set()  # names of the duties added with add_duty
        self.logs = PendingLogs(self.settings.job_log_lines, self.settings.job_log_bytes) \
            if self.settings.job_log_lines else None  # the running jobs' waiting log lines
        self.log_handler: JobLogHandler | None = None  # installed by the first job here
        self.accept_marks: Any = None  # tracking.accepted.AcceptMarks, in a worker's main

    @property
    def redis(self) -> redis.Redis:
        """The tracking Redis client of this process."""
        if self._redis is None:
            s = self.settings
            self._redis = redis_client(s.redis_url, s.redis_timeout,
                                       health_check_interval=30)
        return self._redis

    @property
    def store(self) -> LiveStore:
        """The live store of this process."""
        if self._store is None:
            s = self.settings
            self._store = LiveStore(self.redis, self.keys, s.events_maxlen, s.job_log_lines,
                                    s.job_log_bytes)
        return self._store

    @property
    def engine(self) -> Engine:
        """The history database engine of this process (no migration: see :meth:`migrate`)."""
        with self._lock:
            if self._engine is None:
                self._engine = make_engine(self.settings.sqlalchemy_url)
        return self._engine

    def migrate(self) -> None:
        """Bring the history schema to head, once per process, if ``auto_migrate`` is on.

        Called at explicit points only: a worker's start (its housekeeping) and
        ``regiq db upgrade``; never as a side effect of reading a property.
        """
        with self._lock:
            if self._migrated or not self.settings.auto_migrate:
                return
            upgrade(self.settings.sqlalchemy_url)  # Alembic is not thread-safe: locked
            self._migrated = True

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
                        Periodic(s.resource_interval, self.running.sample),
                        Periodic(CANCEL_WATCH_INTERVAL, CancelWatch(self))],
                        on_applied=self._applied, logs=self.logs)
        return self._writer

    def capture_logs(self) -> PendingLogs | None:
        """Where a job starting here keeps its log lines (the handler is attached to
        this process's loggers by the first job); None when job logs are off."""
        if self.logs is not None and self.log_handler is None:
            with self._lock:
                if self.log_handler is None and self.logs is not None:
                    try:
                        self.log_handler = install_capture(self.settings.job_log_levelno)
                    except ConfigurationError:  # never fail a job over its logs
                        logger.exception("regiq: job logs are off in this process")
                        self.logs = None
        return self.logs

    def _heartbeat(self) -> None:
        for rt in self.running.heartbeat(self.store):  # Redis came back empty: rewrite
            self.writer.submit(transitions.resumed(rt))
        for rt in self.running.live():  # the live resources, written with the next batch
            self.writer.submit(transitions.measured(rt))

    def _applied(self, batch: Sequence[Change], results: Sequence[tuple[str, bool]]) -> None:
        """Tell the hooks what the store confirmed: final changes, then progress."""
        hooks = self.hooks
        if hooks.job_finished:
            for change, (status, _) in zip(batch, results):
                if change.notify:
                    ended = JobEnded(change.job_id, status, change.status,
                                     {**change.fill, **change.set}, change.origin)
                    Hooks.call(hooks.job_finished, self.app, ended)
        if hooks.progress_flushed:
            progressed = [c for c in batch if not c.status]
            if progressed:
                Hooks.call(hooks.progress_flushed, self.app, progressed)

    def add_duty(self, name: str, interval: float, fn: Callable[[], Any]) -> None:
        """Run ``fn`` every ``interval`` seconds in this process's writer thread (once
        per ``name``)."""
        with self._lock:
            if name in self._duties:
                return
            self._duties.add(name)
        self.writer.periodic.append(Periodic(interval, fn))
        self.writer.start()

    def submit(self, change: Change, urgent: bool = False) -> None:
        """Queue a change for the background writer (written at once if ``urgent``)."""
        self.writer.submit(change, urgent)

    def flush(self, timeout: float = 5.0) -> bool:
        """Write every queued change of this process now."""
        return self._writer.flush(timeout) if self._writer is not None else True

    def close(self, timeout: float = 5.0) -> None:
        """Flush and stop the writer thread (and the cancel listener)."""
        self.cancels.stop()
        if self._writer is not None:
            self._writer.close(timeout)


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
