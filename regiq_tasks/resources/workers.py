"""The workers as their resource samples tell: ``list_workers``, ``get_worker``.

A worker's document (the ``workers`` of the realtime metrics, ``GET /status/workers``)::

    {"name": "celery@h1", "alive": true, "last_seen": "ISO", "pool": "prefork",
     "concurrency": 4, "busy": 2, "cpu_percent": 180.0, "rss_bytes": 412000000,
     "processes": 5, "open_files": 48, "pid": 4242, "started_at": "ISO", "interval_s": 5.0,
     "host": {"name": "h1", "cpus": 8, "cpu_percent": 71.0, "memory_percent": 62.0,
              "memory_total_bytes": 1, "swap_percent": 0.0, "load_1m": 2.1,
              "load_5m": 1.9, "load_15m": 1.5,
              "disk": [{"path": "/data", "used_percent": 81.0, "free_bytes": 1,
                        "total_bytes": 1}]}}

What each figure means: :mod:`regiq_tasks.resources.sample`. ``alive`` turns false once
the worker has not sampled for :data:`STALE_INTERVALS` of its own sample interval
(killed, hung, cut off from Redis); ``worker_ttl`` after its last sample it is gone (its
keys expired), and a worker that stops on purpose is gone at once. ``get_worker`` adds
``samples``: the worker's recent compact samples, oldest first (``at``, ``busy``,
``cpu_percent``, ``rss_bytes``, ``open_files``, ``host_cpu_percent``,
``host_memory_percent``, ``host_swap_percent``, ``load_1m``, ``disk_used_percent``: the
fullest of its disks).
"""

from __future__ import annotations

from typing import Any

from celery import current_app

from regiq_tasks.config import DEFAULT_SAMPLE_INTERVAL
from regiq_tasks.errors import WorkerNotFound, reachable
from regiq_tasks.resources.store import MAX_SAMPLES, SampleStore
from regiq_tasks.store.filters import (
    DEFAULT_LIMIT,
    limit_arg,
    opaque_cursor,
    read_cursor,
    text_arg,
)
from regiq_tasks.store.record import iso
from regiq_tasks.tracking.tracker import get_tracker

STALE_INTERVALS = 3  # sample intervals without a sample after which a worker is not alive
DEFAULT_SAMPLES = 720  # compact samples get_worker returns: one hour at the default interval
# The figures of a sample a worker's document carries as they are.
FIGURES = ("pool", "concurrency", "busy", "cpu_percent", "rss_bytes", "processes",
           "open_files", "pid")
_CURSOR_TAG = "worker:"


def _store(app: Any) -> SampleStore:
    tracker = get_tracker(app if app is not None else current_app._get_current_object())
    return SampleStore(tracker.redis, tracker.keys)


def worker_document(sample: dict[str, Any], now: float) -> dict[str, Any]:
    """A worker's document from its latest sample, ``now`` on the same (Redis) clock."""
    at = float(sample.get("at") or 0.0)
    interval = float(sample.get("interval_s") or DEFAULT_SAMPLE_INTERVAL)
    started = sample.get("started_at")
    return {"name": sample.get("name"), "alive": now - at <= STALE_INTERVALS * interval,
            "last_seen": iso(at), **{name: sample.get(name) for name in FIGURES},
            "started_at": iso(float(started)) if started else None, "interval_s": interval,
            "host": sample.get("host") or {}}


def all_workers(app: Any = None) -> list[dict[str, Any]]:
    """Every worker not gone, in name order (StoreUnavailable if Redis is down)."""
    with reachable("workers"):
        now, samples = _store(app).latest()
    return [worker_document(sample, now) for sample in samples]


def _after(text: str) -> str:
    if not text.startswith(_CURSOR_TAG):
        raise ValueError(text)
    return text_arg(text[len(_CURSOR_TAG):], "cursor")


def list_workers(*, limit: int = DEFAULT_LIMIT, cursor: str | None = None,
                 app: Any = None) -> dict[str, Any]:
    """Workers with their latest sample, in name order, alive or not (until gone):
    ``{"items": [...], "next_cursor": str | None}``."""
    limit = limit_arg(limit)
    after = read_cursor(cursor, _after) if cursor is not None else None
    items = [w for w in all_workers(app) if after is None or w["name"] > after]
    page = items[:limit]
    more = len(items) > limit
    return {"items": page,
            "next_cursor": opaque_cursor(_CURSOR_TAG + page[-1]["name"]) if more else None}


def get_worker(name: str, *, samples: int = DEFAULT_SAMPLES, app: Any = None) -> dict[str, Any]:
    """One worker's document with its newest ``samples`` compact samples (oldest first);
    WorkerNotFound if no worker of this name sampled within its ``worker_ttl``."""
    name = text_arg(name, "name")
    count = limit_arg(samples, "samples", MAX_SAMPLES)
    with reachable("get_worker"):
        now, latest, history = _store(app).one(name, count)
    if latest is None:
        raise WorkerNotFound(name)
    points = [{**point, "at": iso(float(point["at"]))} for point in history]
    return {**worker_document(latest, now), "samples": points}
