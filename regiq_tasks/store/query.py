"""Listing live jobs: keyset pagination over the lex-ordered index sets."""

from __future__ import annotations

from typing import Any

import redis

from regiq_tasks.store.filters import JobQuery, encode_cursor
from regiq_tasks.store.keys import Keys, index_member_us, split_index_member
from regiq_tasks.store.record import record_from_hash

# Each scan step reads at most this many index members.
_CHUNK = 200
# Record fields a query may filter on that the chosen index does not already guarantee.
_FILTERS = (("status", "status"), ("type", "type"), ("worker", "worker"),
            ("pipeline_id", "pipeline_id"), ("name", "name"))


def _us(ts: float) -> int:
    return int(ts * 1_000_000)


def _bounds(q: JobQuery) -> tuple[str, str]:
    """Lex bounds (max, min) for a newest-first scan honouring cursor, since and until."""
    high = "+"
    if q.until is not None:
        high = "(" + index_member_us(_us(q.until))
    if q.after is not None:
        after = "(" + index_member_us(*q.after)
        high = after if high == "+" else min(high, after)
    low = "[" + index_member_us(_us(q.since)) if q.since is not None else "-"
    return high, low


class JobLister:
    """Newest-first listing of live jobs with filters and an opaque cursor."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    def _candidates(self, q: JobQuery) -> list[str]:
        pairs = [("status", q.status), ("type", q.type), ("worker", q.worker),
                 ("pipeline", q.pipeline_id)]
        return [self.keys.index(dim, str(v)) for dim, v in pairs if v is not None]

    def _pick_index(self, q: JobQuery) -> str:
        """The smallest index that covers one of the query's filters."""
        candidates = self._candidates(q)
        if not candidates:
            return self.keys.index_all
        if len(candidates) == 1:
            return candidates[0]
        pipe = self.client.pipeline(transaction=False)
        for key in candidates:
            pipe.zcard(key)
        sizes: list[int] = pipe.execute()
        return min(zip(sizes, candidates))[1]

    @staticmethod
    def _matches(rec: dict[str, Any], q: JobQuery) -> bool:
        return all(getattr(q, attr) is None or rec.get(field) == getattr(q, attr)
                   for attr, field in _FILTERS)

    def page(self, q: JobQuery) -> tuple[list[dict[str, Any]], str | None]:
        """One page of live jobs matching ``q``, and the cursor of the next page."""
        index = self._pick_index(q)
        high, low = _bounds(q)
        found: list[tuple[str, dict[str, Any]]] = []
        chunk = q.limit + 1  # enough when the index alone answers the query
        while len(found) <= q.limit:
            members: list[bytes] = self.client.zrange(  # type: ignore[assignment]
                index, high, low, desc=True, bylex=True, offset=0, num=chunk)
            if not members:
                break
            ids = [split_index_member(m.decode())[1] for m in members]
            pipe = self.client.pipeline(transaction=False)
            for job_id in ids:
                pipe.hgetall(self.keys.job(job_id))
            for member, raw in zip(members, pipe.execute()):
                rec = record_from_hash(raw)
                if rec is not None and self._matches(rec, q):
                    found.append((member.decode(), rec))
            high = "(" + members[-1].decode()
            if len(members) < chunk:
                break
            chunk = _CHUNK
        page = found[: q.limit]
        next_cursor = None
        if len(found) > q.limit:
            next_cursor = encode_cursor(*split_index_member(page[-1][0]))
        return [rec for _, rec in page], next_cursor

    def pipeline_records(self, pipeline_id: str, limit: int = 10_000) -> list[dict[str, Any]]:
        """Every live job of one pipeline, oldest first."""
        members: list[bytes] = self.client.zrange(  # type: ignore[assignment]
            self.keys.index("pipeline", pipeline_id), "-", "+", bylex=True, offset=0, num=limit)
        pipe = self.client.pipeline(transaction=False)
        for member in members:
            pipe.hgetall(self.keys.job(split_index_member(member.decode())[1]))
        return [r for r in (record_from_hash(h) for h in pipe.execute()) if r is not None]
