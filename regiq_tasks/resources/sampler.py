"""The sampling thread in every worker's main process: one resource sample a tick.

Started at ``worker_started`` and stopped at ``worker_stopping`` (the feature's hooks,
:mod:`regiq_tasks.resources.hooks`). Every ``sample_interval`` seconds it takes a sample
(:class:`~regiq_tasks.resources.sample.Probe`) and writes it (one round trip,
:class:`~regiq_tasks.resources.store.SampleStore`). Sampling never breaks the worker:
a sample that cannot be taken or written is logged, at most once a minute while the
failures last, and the next tick tries again; a worker stopping on purpose removes its
samples, so it is gone at once rather than shown as not alive.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from regiq_tasks.resources.sample import Probe, compact
from regiq_tasks.resources.store import SampleStore
from regiq_tasks.resources.workers import STALE_INTERVALS
from regiq_tasks.tracking.tracker import get_tracker

logger = logging.getLogger(__name__)

WARN_EVERY = 60.0  # s between two warnings while sampling keeps failing
_ATTR = "_regiq_sampler"


class WorkerSampler:
    """Samples one worker (this process's tree, its pool, its host) on a timer."""

    def __init__(self, app: Any, name: str, worker: Any = None) -> None:
        tracker = get_tracker(app)
        self.name = name
        self.worker = worker
        self.interval = tracker.settings.sample_interval
        # the keys outlive a few intervals at least, whatever worker_ttl says
        self.ttl = max(tracker.settings.worker_ttl, (STALE_INTERVALS + 1) * self.interval)
        self.store = SampleStore(tracker.redis, tracker.keys)
        self.probe = Probe(tracker.settings.disk_path_list)
        self.started_at = time.time()
        self.failures = 0  # ticks in a row whose sample was not written
        self._warned_at = -WARN_EVERY
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="regiq-sampler", daemon=True)

    def sample(self) -> dict[str, Any]:
        """One sample of this worker now, as written."""
        return {"name": self.name, "pid": os.getpid(), "started_at": self.started_at,
                "interval_s": self.interval, **self.probe.sample(self.worker)}

    def tick(self) -> bool:
        """Take and write one sample; False (logged, never raised) if that failed."""
        try:
            sample = self.sample()
            self.store.write(self.name, sample, compact(sample), self.ttl)
        except Exception as exc:
            self._failed(exc)
            return False
        if self.failures:
            logger.warning("regiq: resource samples of %s written again after %d failed",
                           self.name, self.failures)
            self.failures = 0
        return True

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY:
            self._warned_at = now
            logger.warning("regiq: resource sample of %s not written (%d in a row; the "
                           "worker goes on, sampling retries every %g s): %s", self.name,
                           self.failures, self.interval, exc)

    def _run(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            self.tick()
            due = max(due + self.interval, time.monotonic())  # a late tick is not repeated
            self._stop.wait(due - time.monotonic())

    def start(self) -> None:
        """Start the thread."""
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and remove this worker's samples."""
        self._stop.set()
        if self.thread.ident is not None:  # started
            self.thread.join(timeout)
        try:
            self.store.remove(self.name)
        except Exception as exc:  # Redis down: the samples expire by themselves
            logger.warning("regiq: samples of %s not removed: %s", self.name, exc)


def start_sampler(app: Any, hostname: str | None, worker: Any = None) -> WorkerSampler:
    """Start this worker's sampler for ``app`` (idempotent); ``worker`` is Celery's
    WorkController (its pool), ``hostname`` the worker's node name."""
    sampler: WorkerSampler | None = app.__dict__.get(_ATTR)
    if sampler is None or not sampler.thread.is_alive():
        name = hostname or getattr(worker, "hostname", None) or f"pid{os.getpid()}"
        sampler = WorkerSampler(app, name, worker)
        setattr(app, _ATTR, sampler)
        sampler.start()
        logger.info("regiq resource sampling of %s every %g s", name, sampler.interval)
    return sampler


def stop_sampler(app: Any) -> None:
    """Stop this worker's sampler for ``app``, if running."""
    sampler: WorkerSampler | None = app.__dict__.pop(_ATTR, None)
    if sampler is not None:
        sampler.stop()
