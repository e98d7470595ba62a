"""The jobs running in this process: their runtimes, heartbeats and resource samples.

The worker side of a :class:`~regiq_tasks.tracking.tracker.Tracker`: a pool child (or a solo or
thread worker) registers a job at its start and unregisters it when it leaves; the
process's writer thread heartbeats the registered jobs, samples the process's memory and,
with each heartbeat, writes the running jobs' resources so far.
"""

from __future__ import annotations

import threading

from regiq_tasks.store import LiveStore
from regiq_tasks.tracking.runtime import JobRuntime, ResourceSampler


class RunningJobs:
    """The runtimes of the jobs this process runs now."""

    def __init__(self) -> None:
        self.runtimes: dict[str, JobRuntime] = {}
        self.sampler = ResourceSampler()
        self.finish_lock = threading.Lock()  # held to unregister a job or to terminate one
        self.pool_child = False  # a prefork pool child: may terminate itself on cancel

    def register(self, rt: JobRuntime) -> None:
        """Record a job as running in this process."""
        if self.runtimes:
            rt.shared_process = True
            for other in self.runtimes.values():
                other.shared_process = True
        # A fresh sample (~10 µs): the last one may be from an earlier, bigger job.
        rt.rss = rt.peak_rss = self.sampler.sample([])
        self.runtimes[rt.job_id] = rt

    def unregister(self, job_id: str) -> JobRuntime | None:
        """Forget a job that stopped running in this process."""
        return self.runtimes.pop(job_id, None)

    def get(self, job_id: str) -> JobRuntime | None:
        """The runtime of a job running here, or None."""
        return self.runtimes.get(job_id)

    def heartbeat(self, store: LiveStore) -> list[JobRuntime]:
        """Renew the running jobs' heartbeats; returns those whose record Redis lost."""
        if not self.runtimes:
            return []
        missing = store.heartbeat(list(self.runtimes))
        return [rt for job_id in missing if (rt := self.runtimes.get(job_id)) is not None]

    def live(self) -> list[JobRuntime]:
        """The running jobs after a fresh memory sample (their live resources)."""
        runtimes = list(self.runtimes.values())
        if runtimes:
            self.sampler.sample(runtimes)
        return runtimes

    def sample(self) -> None:
        """Fold one memory sample of this process into the running jobs' peaks."""
        if self.runtimes:
            self.sampler.sample(list(self.runtimes.values()))
