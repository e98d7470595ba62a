"""The workers' resource samples in Redis: one atomic write per sample, and the reads.

Layout (``store/keys.py``): ``P workers`` (who samples, scored by when their samples
expire), ``P worker:<name>`` (the latest sample) and ``P worker-samples:<name>`` (the
compact samples of the last ``worker_ttl`` seconds); all expire, so a worker that stops
sampling is gone from Redis ``worker_ttl`` after its last sample. A sample's ``at`` is
Redis server time, and the reads return the server's time with what they read, so
"how long ago" never depends on the clocks of the worker and reader hosts.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import redis

from regiq_tasks.store.keys import Keys
from regiq_tasks.store.record import as_text

MAX_SAMPLES = 3600  # compact samples kept per worker (one hour at 1 s)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _server_time(reply: Any) -> float:
    seconds, micros = reply
    return int(seconds) + int(micros) / 1e6


class SampleStore:
    """Writes and reads the resource samples of the workers under one key prefix."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        text = resources.files(__package__).joinpath("sample.lua").read_text()
        self._write = client.register_script(text)

    def write(self, name: str, sample: dict[str, Any], compact: dict[str, Any],
              ttl: float) -> float:
        """Record a sample (both forms); returns its time (Redis server s)."""
        k = self.keys
        at = self._write(keys=[k.workers, k.worker(name), k.worker_samples(name)],
                         args=[name, _json(sample), _json(compact), repr(ttl), MAX_SAMPLES])
        return float(as_text(at))

    def remove(self, name: str) -> None:
        """Forget a worker (it stopped on purpose)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.zrem(self.keys.workers, name)
        pipe.delete(self.keys.worker(name), self.keys.worker_samples(name))
        pipe.execute()

    def latest(self) -> tuple[float, list[dict[str, Any]]]:
        """(server time, the latest sample of every worker not gone), in name order."""
        pipe = self.client.pipeline(transaction=False)
        pipe.time()
        pipe.zrange(self.keys.workers, 0, -1)
        now, names = pipe.execute()
        names = sorted(as_text(n) for n in names)
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.get(self.keys.worker(name))
        found = [json.loads(raw) for raw in (pipe.execute() if names else []) if raw]
        return _server_time(now), found

    def one(self, name: str, limit: int) -> tuple[float, dict[str, Any] | None,
                                                   list[dict[str, Any]]]:
        """(server time, the worker's latest sample or None, its newest ``limit`` compact
        samples oldest first)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.time()
        pipe.get(self.keys.worker(name))
        pipe.zrange(self.keys.worker_samples(name), -limit, -1)
        now, raw, history = pipe.execute()
        latest = json.loads(raw) if raw else None
        return _server_time(now), latest, [json.loads(h) for h in history] if latest else []
