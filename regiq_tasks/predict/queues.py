"""The queued and running jobs a start ETA needs: one bounded read, and each queue's slots.

:func:`read_live` reads the oldest :data:`SCAN_CAP` queued jobs (``P ix:status:queued``
in creation order) with their type and queue and the running jobs (at most
:data:`SCAN_CAP`) with their type, queue, start, progress ETA and ``expected_duration``
in one Lua call, kept :data:`SCAN_TTL` seconds per process (a listing must stay cheap:
the scan costs ~8 ms at the cap); and, on every call, the position among all queued jobs
of each job asked about (``ZRANK``, one small Lua call, so a job further back than the
cap still knows how many are ahead of it).

A queue's slots (:func:`queue_slots`) are its consumers as the broker counts them
(RabbitMQ's consumer count; on Redis, the workers whose ``active_queues`` name it) times
the mean ``concurrency`` of the live workers' resource samples; without a broker count,
the live workers' concurrency summed. Cached :data:`SLOTS_TTL` seconds per process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from regiq_tasks.predict.stats import Cached, per_tracker
from regiq_tasks.states import JobStatus
from regiq_tasks.store.prelude import lua_prelude
from regiq_tasks.store.record import as_text
from regiq_tasks.tracking.tracker import Tracker

SCAN_CAP = 1000  # queued (oldest first) and running jobs one read looks at
SLOTS_TTL = 5.0  # s a process reuses the queues' slot counts
SCAN_TTL = 1.0  # s a process reuses the scan of queued and running jobs
_RUNNING_WIDTH = 6  # id, then the fields of Running that _SCAN reads (in its order)
_SCRIPT_ATTR = "_regiq_predict_scan"

# KEYS: 1 queued index, 2 running index. ARGV: 1 prefix, 2 cap.
# Returns {queued: member, type, queue, ...}, {running: id, fields...}.
_SCAN = """
local K = keyspace(ARGV[1])
local cap = tonumber(ARGV[2])
local queued, running = {}, {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, cap - 1)) do
  local f = redis.call('HMGET', K.job(member_id(m)), 'type', 'queue')
  queued[#queued + 1] = m
  queued[#queued + 1] = f[1] or ''
  queued[#queued + 1] = f[2] or ''
end
for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, cap - 1)) do
  local f = redis.call('HMGET', K.job(member_id(m)), 'type', 'queue', 'started_at',
                      'eta_seconds', 'expected_duration')
  running[#running + 1] = member_id(m)
  for i = 1, 5 do running[#running + 1] = f[i] or '' end
end
return {queued, running}
"""
# KEYS: 1 queued index. ARGV: 1 prefix, 2.. ids asked about.
# Returns the rank of each asked id among the queued jobs, -1 when not queued.
_RANKS = """
local K = keyspace(ARGV[1])
local ranks = {}
for i = 2, #ARGV do
  local created = redis.call('HGET', K.job(ARGV[i]), 'created_at')
  local rank = created and redis.call('ZRANK', KEYS[1], index_member(created, ARGV[i]))
  ranks[#ranks + 1] = rank or -1
end
return ranks
"""


@dataclass(frozen=True, slots=True)
class Queued:
    """A queued job: its id, type and queue."""

    id: str
    type: str
    queue: str


@dataclass(frozen=True, slots=True)
class Running:
    """A running job: what its remaining time depends on."""

    id: str
    type: str
    queue: str
    started_at: float | None
    eta_seconds: float | None
    expected_duration: float | None


@dataclass
class LiveJobs:
    """The oldest queued jobs, the running ones, and the queue position of those asked."""

    queued: list[Queued] = field(default_factory=list)
    running: list[Running] = field(default_factory=list)
    ranks: dict[str, int] = field(default_factory=dict)  # id -> jobs queued before it


def _float(raw: Any) -> float | None:
    text = as_text(raw) if raw is not None else ""
    return float(text) if text else None


def _script(tracker: Tracker, name: str, text: str) -> Any:
    client = tracker.redis
    scripts: dict[str, Any] = client.__dict__.setdefault(_SCRIPT_ATTR, {})
    if name not in scripts:
        scripts[name] = client.register_script(lua_prelude() + text)
    return scripts[name]


def _scan(tracker: Tracker) -> tuple[list[Queued], list[Running]]:
    keys = tracker.keys
    raw_queued, raw_running = _script(tracker, "scan", _SCAN)(
        keys=[keys.index("status", JobStatus.QUEUED.value),
              keys.index("status", JobStatus.RUNNING.value)],
        args=[keys.prefix, SCAN_CAP])
    texts = [as_text(v) for v in raw_queued]
    queued = [Queued(m.split(":", 1)[1], t, q)
              for m, t, q in zip(texts[::3], texts[1::3], texts[2::3])]
    running = []
    for i in range(0, len(raw_running), _RUNNING_WIDTH):
        job_id, job_type, queue, *numbers = raw_running[i:i + _RUNNING_WIDTH]
        running.append(Running(as_text(job_id), as_text(job_type), as_text(queue),
                               *map(_float, numbers)))
    return queued, running


def read_live(tracker: Tracker, asked: Sequence[str] = (), fresh: bool = False) -> LiveJobs:
    """The queued and running jobs (see the module doc; read now if ``fresh``), and the
    ranks of ``asked``."""
    queued, running = per_tracker(
        tracker, "scan", lambda: Cached(lambda: _scan(tracker), SCAN_TTL)).get(fresh=fresh)
    ranks: dict[str, int] = {}
    if asked:
        keys = tracker.keys
        raw = _script(tracker, "ranks", _RANKS)(
            keys=[keys.index("status", JobStatus.QUEUED.value)], args=[keys.prefix, *asked])
        ranks = {job_id: int(r) for job_id, r in zip(asked, raw) if int(r) >= 0}
    return LiveJobs(queued, running, ranks)


def read_slots(tracker: Tracker) -> dict[str, int | None]:
    """Each known queue's slots now (None: the broker cannot tell)."""
    from regiq_tasks.metrics.realtime import queues
    from regiq_tasks.resources.workers import all_workers

    sizes = [int(w.get("concurrency") or 0) for w in all_workers(tracker.app) if w["alive"]]
    sizes = [s for s in sizes if s > 0]
    mean = sum(sizes) / len(sizes) if sizes else 1.0
    slots: dict[str, int | None] = {}
    for q in queues(tracker.app):
        consumers = q["consumers"]
        if consumers is None:
            slots[q["name"]] = sum(sizes) or None
        else:
            slots[q["name"]] = round(consumers * mean)
    return slots


def queue_slots(tracker: Tracker) -> dict[str, int | None]:
    """Each queue's slots, as read at most :data:`SLOTS_TTL` seconds ago."""
    cache = per_tracker(tracker, "slots", lambda: Cached(lambda: read_slots(tracker), SLOTS_TTL))
    slots: dict[str, int | None] = cache.get()
    return slots
