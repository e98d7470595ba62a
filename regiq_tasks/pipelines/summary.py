"""A pipeline as one: status, counts and aggregate progress over every planned step."""

from __future__ import annotations

from collections import Counter
from typing import Any

from regiq_tasks.pipelines.graph import PENDING, resolve
from regiq_tasks.states import ACTIVE_STATUSES, JobStatus

_ENDED_BADLY = (JobStatus.FAILED, JobStatus.LOST, JobStatus.CANCELLED)


def _status(counts: Counter[str]) -> str:
    if counts[JobStatus.RUNNING] or counts[JobStatus.RETRYING]:
        return JobStatus.RUNNING.value
    if counts[JobStatus.QUEUED]:
        return JobStatus.QUEUED.value
    for status in _ENDED_BADLY:
        if counts[status]:
            return status.value
    return JobStatus.QUEUED.value if counts[PENDING] else JobStatus.SUCCEEDED.value


def _percent(job: dict[str, Any]) -> float:
    if job["status"] == PENDING:
        return 0.0
    if job["status"] not in ACTIVE_STATUSES:
        return 100.0
    progress = job.get("progress") or {}
    return float(progress.get("percent") or 0.0)


def _unfinished(counts: Counter[str]) -> bool:
    """Something is still to run: an active job, or a pending step nothing stopped."""
    return (any(counts[s] for s in ACTIVE_STATUSES)
            or bool(counts[PENDING]) and not any(counts[s] for s in _ENDED_BADLY))


def summarize_pipeline(pipeline_id: str, jobs: list[dict[str, Any]],
                       plan: dict[str, Any] | None = None,
                       cancelled: bool = False) -> dict[str, Any]:
    """A pipeline as one: every planned step in ``jobs`` (in plan order, then what the
    plan does not name), status counts, aggregate progress and the graph."""
    steps, graph = resolve(plan, jobs, pipeline_id, cancelled)
    counts = Counter(j["status"] for j in steps)
    created = [j["created_at"] for j in steps if j["created_at"]]
    finished = [j["finished_at"] for j in steps if j["finished_at"]]
    done = not _unfinished(counts)
    return {"pipeline_id": pipeline_id, "status": _status(counts),
            "total_jobs": len(steps), "counts": dict(counts),
            "progress": {"percent": round(sum(map(_percent, steps)) / len(steps), 2),
                         "finished_jobs": sum(1 for j in steps if j["status"] != PENDING
                                              and j["status"] not in ACTIVE_STATUSES)},
            "created_at": min(created) if created else None,
            "finished_at": max(finished) if done and finished else None,
            "planned": plan is not None, "jobs": steps, "graph": graph}
