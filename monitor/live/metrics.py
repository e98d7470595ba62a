"""The realtime metrics the relay emits every few seconds as the ``metrics`` event.

``{"at", "jobs": {<status>: live jobs}, "queued", "running", "by_type": {<type>:
{"queued", "running", "retrying"}}, "throughput_60s"}``. The counts by status and type
are :func:`regiq_tasks.metrics.realtime.live_counts` (one bounded Lua call over the
active indexes); throughput counts the final transitions the relay read from the event
stream in the last 60 s (primed from the stream when a relay takes over).
"""

from __future__ import annotations

import json
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

import redis

from regiq_tasks.metrics.realtime import LiveCounter
from regiq_tasks.states import FINAL_STATUSES, JobStatus
from regiq_tasks.store.keys import Keys

THROUGHPUT_WINDOW = 60.0  # s
PRIME_MAX = 50_000  # stream entries read back to prime the throughput after a takeover


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
    """Reads the realtime metrics in two round trips (see :class:`LiveCounter`)."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.counter = LiveCounter(client, keys)

    def read(self, throughput: Throughput) -> dict[str, Any]:
        """The current metrics."""
        counts = self.counter.read().counts()
        jobs = counts["jobs"]
        now = time.time()
        return {"at": datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z"),
                "jobs": jobs, "queued": jobs[JobStatus.QUEUED.value],
                "running": jobs[JobStatus.RUNNING.value], "by_type": counts["by_type"],
                "throughput_60s": throughput.count(now)}
