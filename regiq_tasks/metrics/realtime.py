"""Live counts and queues right now: jobs by status and type, queue depths and waits.

``live_counts(app)`` -> ``{"jobs": {<status>: n, ... all seven}, "by_type": {<type>:
{"queued", "running", "retrying"}}}``. The counts per status are the sizes of the status
indexes (``ZCARD P ix:status:<s>``); the counts per type come from one Lua call that
reads the ``type`` field of the jobs in the three active indexes, at most
:data:`TYPE_SCAN_CAP` per status (oldest first): active jobs are few, final ones are not
broken down by type here (their totals per type are ``regiq_jobs_total``).

``queues(app)`` -> ``[{"name", "depth", "oldest_wait_s", "consumers"}]`` for the queues
the app routes to (``task_default_queue``, ``task_queues``, the ``queue`` of
``task_routes``) and those tracked jobs were published to (the ``queue`` field of queued
jobs, from the same Lua call). ``depth`` and ``consumers`` come from the broker
(:mod:`regiq_tasks.metrics.broker`); ``oldest_wait_s`` is the age of the oldest queued
tracked job of the queue (null when none is queued).

``snapshot(app)`` gives both from one scan (the Prometheus collector uses it).

``get_realtime(app=None)`` is the document of ``GET /status/metrics/realtime`` and of the
Socket.IO ``metrics`` event (DESIGN.md): ``{"at", "jobs", "by_type", "queues",
"throughput": {"finished_10s", "finished_60s", "per_s"}, "workers"}``, the snapshot plus
:func:`regiq_tasks.metrics.performance.throughput` (jobs finished per second, ``P
m:fin``) and the workers' latest resource samples
(:func:`regiq_tasks.resources.workers.all_workers`: alive or not, until gone).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis
from celery import current_app

from regiq_tasks.errors import reachable
from regiq_tasks.metrics.broker import QueueState, broker_queues
from regiq_tasks.metrics.performance import throughput
from regiq_tasks.resources.workers import all_workers
from regiq_tasks.states import ACTIVE_STATUSES, JobStatus
from regiq_tasks.store.keys import Keys, split_index_member
from regiq_tasks.store.prelude import lua_prelude
from regiq_tasks.store.record import as_text, iso
from regiq_tasks.tracking.tracker import get_tracker

TYPE_SCAN_CAP = 5000  # active jobs per status whose type (and queue) is read

# KEYS: the active status indexes, queued first. ARGV: 1 key prefix, 2 cap.
# Returns per key {type, count, ...}, then for the first key {queue, oldest member, ...}.
_ACTIVE_SCAN = """
local K = keyspace(ARGV[1])
local out = {}
local oldest, queues = {}, {}
for i, key in ipairs(KEYS) do
  local counts = {}
  for _, member in ipairs(redis.call('ZRANGE', key, 0, tonumber(ARGV[2]) - 1)) do
    local f = redis.call('HMGET', K.job(member_id(member)), 'type', 'queue')
    local t = f[1] or ''
    counts[t] = (counts[t] or 0) + 1
    if i == 1 and f[2] and not oldest[f[2]] then
      oldest[f[2]] = member
      queues[#queues + 1] = f[2]
    end
  end
  local flat = {}
  for t, n in pairs(counts) do flat[#flat + 1] = t; flat[#flat + 1] = n end
  out[i] = flat
end
local flat = {}
for _, q in ipairs(queues) do flat[#flat + 1] = q; flat[#flat + 1] = oldest[q] end
out[#KEYS + 1] = flat
return out
"""
ACTIVE = tuple(s for s in JobStatus if s in ACTIVE_STATUSES)  # queued, running, retrying



@dataclass
class LiveScan:
    """What one read of the live store says: counts by status and type, queued ages."""

    jobs: dict[str, int]
    by_type: dict[str, dict[str, int]]
    oldest_queued: dict[str, float] = field(default_factory=dict)  # queue -> created_at (s)

    def counts(self) -> dict[str, Any]:
        """The ``live_counts`` document."""
        return {"jobs": dict(self.jobs), "by_type": dict(sorted(self.by_type.items()))}


class LiveCounter:
    """Reads a :class:`LiveScan` in two round trips (the status sizes, one Lua call)."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self._scan = client.register_script(lua_prelude() + _ACTIVE_SCAN)

    def read(self) -> LiveScan:
        """The live counts now."""
        pipe = self.client.pipeline(transaction=False)
        for status in JobStatus:
            pipe.zcard(self.keys.index("status", status.value))
        jobs = {s.value: int(n) for s, n in zip(JobStatus, pipe.execute())}
        raw = self._scan(keys=[self.keys.index("status", s.value) for s in ACTIVE],
                         args=[self.keys.prefix, TYPE_SCAN_CAP])
        by_type: dict[str, dict[str, int]] = {}
        for status, flat in zip(ACTIVE, raw):
            for name, n in zip(flat[::2], flat[1::2]):
                counts = by_type.setdefault(as_text(name), {s.value: 0 for s in ACTIVE})
                counts[status.value] = int(n)
        oldest = {as_text(q): split_index_member(as_text(m))[0] / 1_000_000
                  for q, m in zip(raw[-1][::2], raw[-1][1::2])}
        return LiveScan(jobs, by_type, oldest)


def live_counter(app: Any) -> LiveCounter:
    """A counter on the app's tracking Redis in this process."""
    tracker = get_tracker(app)
    return LiveCounter(tracker.redis, tracker.keys)


def live_counts(app: Any) -> dict[str, Any]:
    """Live jobs by status (all seven) and active ones by type (see the module doc)."""
    return live_counter(app).read().counts()


def routed_queues(conf: Any) -> list[str]:
    """The queues an app's configuration routes to, in configuration order."""
    names: list[str] = [conf.task_default_queue or "celery"]
    for queue in conf.task_queues or ():
        names.append(getattr(queue, "name", queue))
    names.extend(_route_queues(conf.task_routes))
    return list(dict.fromkeys(str(n) for n in names if n))


def _route_queues(routes: Any) -> Iterable[str]:
    """The ``queue`` of every static route (routers that are functions are skipped)."""
    tables = routes if isinstance(routes, (list, tuple)) else [routes]
    for table in tables:
        if not isinstance(table, Mapping):
            continue
        for route in table.values():
            queue = route.get("queue") if isinstance(route, Mapping) else route
            queue = getattr(queue, "name", queue)
            if isinstance(queue, str):
                yield queue


def queue_rows(app: Any, scan: LiveScan, now: float | None = None) -> list[dict[str, Any]]:
    """The ``queues`` document of a scan: broker state and the oldest tracked wait."""
    now = time.time() if now is None else now
    names = list(dict.fromkeys([*routed_queues(app.conf), *sorted(scan.oldest_queued)]))
    states: dict[str, QueueState] = broker_queues(app, names)
    rows = []
    for name in names:
        state = states.get(name, QueueState())
        created = scan.oldest_queued.get(name)
        wait = round(max(0.0, now - created), 3) if created is not None else None
        rows.append({"name": name, "depth": state.depth, "oldest_wait_s": wait,
                     "consumers": state.consumers})
    return rows


def queues(app: Any) -> list[dict[str, Any]]:
    """Every known queue with its broker depth, oldest tracked wait and consumers."""
    return queue_rows(app, live_counter(app).read())


def snapshot(app: Any) -> dict[str, Any]:
    """``live_counts`` and ``queues`` from one read of the live store."""
    scan = live_counter(app).read()
    return {**scan.counts(), "queues": queue_rows(app, scan)}


def get_realtime(app: Any = None) -> dict[str, Any]:
    """The realtime metrics now (the module doc; DESIGN.md's realtime document).

    Reads the live store (Redis errors become StoreUnavailable) and the broker (a queue
    the broker cannot tell about has ``depth``/``consumers`` null).
    """
    app = app if app is not None else current_app._get_current_object()
    with reachable("realtime"):
        finished = throughput(app)  # flushes this process's own queued changes first
        now = time.time()
        scan = live_counter(app).read()
        return {"at": iso(now), **scan.counts(), "queues": queue_rows(app, scan, now),
                "throughput": finished, "workers": all_workers(app)}
