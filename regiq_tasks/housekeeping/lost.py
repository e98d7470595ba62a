"""Ending jobs ``lost`` from housekeeping: the reaper's jobs without heartbeat and the
queued jobs whose message vanished, with the same change and the same hooks."""

from __future__ import annotations

import time
from typing import Any

from regiq_tasks.hooks import Hooks, JobEnded
from regiq_tasks.states import JobStatus
from regiq_tasks.store import Change
from regiq_tasks.tracking.tracker import Tracker


def end_lost(tracker: Tracker, job_ids: list[str], error: dict[str, Any],
             reap_cutoff: float | None = None, reap_queued: bool = False) -> int:
    """Move these jobs to ``lost`` with ``error`` where the guard still holds (see
    ``Change.reap_cutoff`` and ``Change.reap_queued``), tell the ``job_finished`` hooks
    of each one that moved; returns how many moved."""
    now = time.time()
    changes = [Change(job_id, JobStatus.LOST, set={"finished_at": now, "error": error},
                      reap_cutoff=reap_cutoff, reap_queued=reap_queued) for job_id in job_ids]
    results = tracker.store.apply_many(changes)
    lost = 0
    for change, (status, _) in zip(changes, results):
        if status != JobStatus.LOST:
            continue
        lost += 1
        if tracker.hooks.job_finished:
            Hooks.call(tracker.hooks.job_finished, tracker.app,
                       JobEnded(change.job_id, status, JobStatus.LOST, change.set))
    return lost
