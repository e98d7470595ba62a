"""In-process state of the jobs running in this process: progress, rate, ETA, resources.

A :class:`JobRuntime` lives from ``task_prerun`` to ``task_postrun`` in the process that
runs the job. ``progress()`` only updates it; a flush turns it into a store change at
most once per ``progress_interval``. Nothing here talks to Redis.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import psutil

from regiq_tasks.tracking.logbuffer import PendingLogs

RATE_SMOOTHING = 0.3  # weight of the newest rate sample in the exponential average

_current = threading.local()


def _thread_clock() -> int | None:
    """The CPU-time clock of the calling thread, readable from other threads (None where
    the platform has none: then a job's own thread reads its CPU time itself)."""
    try:
        return time.pthread_getcpuclockid(threading.get_ident())
    except (AttributeError, OSError):
        return None


def current_runtime() -> JobRuntime | None:
    """The runtime of the job running in this thread, if any."""
    return getattr(_current, "rt", None)


def set_current_runtime(rt: JobRuntime | None) -> None:
    """Make ``rt`` the job running in this thread (None when it ends)."""
    _current.rt = rt


class JobRuntime:
    """Progress, rate and resource figures of one running job in this process."""

    __slots__ = ("job_id", "task", "started_wall", "started_mono", "cpu_process", "cpu_thread",
                 "thread_id", "thread_clock", "shared_process", "next_flush", "next_backend",
                 "current", "total", "message", "rate", "flushed_current", "flushed_at",
                 "cancelled", "metadata", "metadata_dirty", "rss", "peak_rss", "outcome",
                 "error", "skip", "terminate_at", "worker", "identity", "logs")

    def __init__(self, job_id: str, task: Any, started_wall: float, rss: int) -> None:
        self.job_id = job_id
        self.task = task
        self.started_wall = started_wall
        self.started_mono = time.monotonic()
        self.cpu_process = time.process_time()
        self.thread_id = threading.get_ident()  # the job's thread
        self.thread_clock = _thread_clock()  # its CPU clock: the heartbeat reads it too
        self.cpu_thread = self._thread_cpu() or 0.0
        self.shared_process = False  # another job ran in this process at the same time
        self.next_flush = 0.0
        self.next_backend = 0.0
        self.current: float | None = None
        self.total: float | None = None
        self.message: str | None = None
        self.rate: float | None = None
        self.flushed_current: float | None = None
        self.flushed_at = self.started_mono
        self.cancelled = False  # a cancel was requested: raise JobCancelled at the next check
        self.skip: str | None = None  # the final status the job had at its start (cancelled
        #                               while queued, or a second delivery): do not run it
        self.terminate_at: float | None = None  # monotonic time of a forced terminate
        self.worker: str | None = None  # the worker's node name (Celery's hostname)
        self.metadata: dict[str, Any] = {}
        self.metadata_dirty = False
        self.rss = rss  # the process's RSS at the latest sample
        self.peak_rss = rss
        self.outcome: tuple[str, dict[str, Any] | None] | None = None
        self.error: dict[str, Any] | None = None
        # Fields that identify the job (id, name, type, created_at, lineage, ...): every
        # later change carries them as ``fill``, so a record Redis lost is recreated whole.
        self.identity: dict[str, Any] = {"id": job_id, "name": task.name}
        self.logs: PendingLogs | None = None  # where its log lines wait (None: not kept)

    def update_rate(self, now: float) -> None:
        """Fold the progress made since the last flush into the smoothed rate."""
        if self.current is None:
            return
        if self.flushed_current is not None and now > self.flushed_at:
            sample = (self.current - self.flushed_current) / (now - self.flushed_at)
            if sample >= 0:
                self.rate = sample if self.rate is None else (
                    RATE_SMOOTHING * sample + (1 - RATE_SMOOTHING) * self.rate)
        elif self.flushed_current is None and now > self.started_mono:
            self.rate = self.current / (now - self.started_mono)
        self.flushed_current = self.current
        self.flushed_at = now

    def eta_seconds(self) -> float | None:
        """Seconds left at the smoothed rate, if the total and a rate are known."""
        if self.total is None or self.current is None or not self.rate:
            return None
        return round(max(0.0, (self.total - self.current) / self.rate), 3)

    def _thread_cpu(self) -> float | None:
        """CPU seconds of the job's thread; None where they cannot be read from the
        calling thread (no per-thread clock on this platform, or the thread ended)."""
        if self.thread_clock is not None:
            try:
                return time.clock_gettime(self.thread_clock)
            except OSError:
                return None
        return time.thread_time() if threading.get_ident() == self.thread_id else None

    def resources(self, live: bool = False) -> dict[str, Any]:
        """CPU time, CPU percent (mean since the start) and peak RSS of the job so far;
        ``live`` adds ``rss_bytes``, the process's RSS now (a running job's record).

        Safe to call from another thread of the process (the writer's heartbeat): where
        several jobs share the process, the job's CPU is its own thread's.
        """
        wall = max(1e-9, time.monotonic() - self.started_mono)
        cpu: float | None = time.process_time() - self.cpu_process
        if self.shared_process:
            now = self._thread_cpu()
            cpu = None if now is None else now - self.cpu_thread
        figures: dict[str, Any] = {
            "cpu_time_s": None if cpu is None else round(cpu, 6),
            "cpu_percent": None if cpu is None else round(100.0 * cpu / wall, 2),
            "peak_rss_bytes": self.peak_rss or None}
        if live:
            figures["rss_bytes"] = self.rss or None
        return figures


class ResourceSampler:
    """Samples this process's RSS on a timer and raises the peak of the running jobs.

    On Linux a sample is one ``pread`` of ``/proc/self/statm`` on a descriptor kept open
    (about 3 µs; psutil opens the file each time, about 25 µs): a job's start takes one.
    """

    def __init__(self) -> None:
        self._process: psutil.Process | None = None
        self._pid = 0
        self._statm: int | None = None  # the open /proc/self/statm of this process
        self.last_rss = 0

    def _open(self) -> None:
        if self._statm is not None:
            os.close(self._statm)
        self._process, self._pid, self._statm = psutil.Process(), os.getpid(), None
        try:
            self._statm = os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:  # no procfs: psutil reads it its own way
            pass

    def rss(self) -> int:
        """This process's resident set size now, in bytes."""
        if self._pid != os.getpid():
            self._open()
        if self._statm is not None:
            try:
                return int(os.pread(self._statm, 128, 0).split()[1]) * _PAGE_SIZE
            except (OSError, IndexError, ValueError):
                self._statm = None
        assert self._process is not None
        return int(self._process.memory_info().rss)

    def sample(self, runtimes: list[JobRuntime]) -> int:
        """Take one RSS sample: each running job's current RSS, and its peak."""
        rss = self.rss()
        self.last_rss = rss
        for rt in runtimes:
            rt.rss = rss
            if rss > rt.peak_rss:
                rt.peak_rss = rss
        return rss


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
