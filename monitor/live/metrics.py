"""The realtime metrics the relay emits every few seconds as the ``metrics`` event.

``{"at", "jobs": {<status>: live jobs}, "queued", "running", "by_type": {<type>:
{"queued", "running", "retrying"}}, "throughput_60s"}``. Counts per status are
the sizes of the status indexes; counts per type are taken server-side in one Lua call
over the active indexes (at most :data:`TYPE_SCAN_CAP` jobs per status); throughput
counts the final transitions the relay read from the event stream in the last 60 s
(primed from the stream when a relay takes over).
"""

from __future__ import annotations

import json
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

import redis

from regiq_tasks.states import ACTIVE_STATUSES, FINAL_STATUSES, JobStatus
from regiq_tasks.store.keys import Keys, lua_prelude

THROUGHPUT_WINDOW = 60.0  # s
TYPE_SCAN_CAP = 5000  # active jobs per status whose type is counted
PRIME_MAX = 50_000  # stream entries read back to prime the throughput after a takeover

# KEYS: status indexes. ARGV: 1 key prefix, 2 cap. Returns {type, count, ...} per key.
_BY_TYPE = """
local K = keyspace(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local counts = {}
  for _, member in ipairs(redis.call('ZRANGE', key, 0, tonumber(ARGV[2]) - 1)) do
    local t = redis.call('HGET', K.job(member_id(member)), 'type') or ''
    counts[t] = (counts[t] or 0) + 1
  end
  local flat = {}
  for t, n in pairs(counts) do flat[#flat + 1] = t; flat[#flat + 1] = n end
  out[i] = flat
end
return out
"""
_ACTIVE = [s for s in JobStatus if s in ACTIVE_STATUSES]


class Throughput:
    """Times (s) of the final transitions seen in the last minute."""

    def __init__(self) -> None:
        self._times: deque[float] = deque()

    def add(self, at: float) -> None:
        self._times.append(at)

    def count(self, now: float) -> int:
        """Final transitions within the window ending ``now``."""
        while self._times and self._times[0] < now - THROUGHPUT_WINDOW:
            self._times.popleft()
        return len(self._times)

    def prime(self, client: redis.Redis, stream: str, now: float) -> None:
        """Count the final transitions of the last minute already in the stream."""
        start = int((now - THROUGHPUT_WINDOW) * 1000)
        entries: Any = client.xrevrange(stream, "+", start, count=PRIME_MAX)
        for entry_id, fields in reversed(entries):
            if is_final_transition(fields):
                self.add(stream_time(entry_id))


def stream_time(entry_id: bytes | str) -> float:
    """The time (s) of a stream entry, from its id."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-", 1)[0]) / 1000


def is_final_transition(fields: dict[bytes, bytes]) -> bool:
    """True for the event that moved a job into a final status."""
    status = fields.get(b"status", b"").decode()
    if status not in FINAL_STATUSES:
        return False
    try:
        return "status" in json.loads(fields.get(b"data") or b"{}")
    except ValueError:
        return False


class MetricsReader:
    """Reads the realtime metrics in two round trips."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self._by_type = client.register_script(lua_prelude() + _BY_TYPE)

    def read(self, throughput: Throughput) -> dict[str, Any]:
        """The current metrics."""
        pipe = self.client.pipeline(transaction=False)
        for status in JobStatus:
            pipe.zcard(self.keys.index("status", status.value))
        jobs = {s.value: int(n) for s, n in zip(JobStatus, pipe.execute())}
        raw = self._by_type(keys=[self.keys.index("status", s.value) for s in _ACTIVE],
                            args=[self.keys.prefix, TYPE_SCAN_CAP])
        by_type: dict[str, dict[str, int]] = {}
        for status, flat in zip(_ACTIVE, raw):
            for name, n in zip(flat[::2], flat[1::2]):
                label = name.decode() if isinstance(name, bytes) else str(name)
                counts = by_type.setdefault(label, {s.value: 0 for s in _ACTIVE})
                counts[status.value] = int(n)
        now = time.time()
        return {"at": datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z"),
                "jobs": jobs, "queued": jobs[JobStatus.QUEUED.value],
                "running": jobs[JobStatus.RUNNING.value], "by_type": dict(sorted(by_type.items())),
                "throughput_60s": throughput.count(now)}
