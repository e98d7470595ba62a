"""Listing live jobs: keyset pagination over the lex-ordered index sets.

A listing reads the smallest index that covers one of its filters and checks the other
filters on each job. A filter no index covers (``name``, ``id_prefix``, or a second
indexed filter) can make a page scan many members, so one request reads at most
:data:`SCAN_BUDGET` index members: when that runs out before the page is full, the page
holds what was found so far and ``next_cursor`` points after the last member read (a
short page with a cursor means "go on", not "the end"). ``id_prefix`` is checked on the
index member itself (it ends with the id), so members that fail it cost no job read.
"""

from __future__ import annotations

from typing import Any

import redis

from regiq_tasks.store.filters import JobQuery, encode_cursor
from regiq_tasks.store.keys import Keys, index_member_us, split_index_member
from regiq_tasks.store.record import record_from_hash

# Each scan step reads at most this many index members.
_CHUNK = 200
# Scan step of an id_prefix listing: its members are checked without reading the jobs.
_PREFIX_CHUNK = 1000
# Index members one listing request reads at most (Redis work per request stays bounded).
SCAN_BUDGET = 10_000
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

    def _read(self, members: list[bytes], q: JobQuery) -> list[tuple[str, dict[str, Any]]]:
        """The (member, record) pairs of ``members`` whose job matches ``q``."""
        pairs = [(m.decode(), split_index_member(m.decode())[1]) for m in members]
        if q.id_prefix is not None:
            pairs = [(m, job_id) for m, job_id in pairs if job_id.startswith(q.id_prefix)]
        pipe = self.client.pipeline(transaction=False)
        for _, job_id in pairs:
            pipe.hgetall(self.keys.job(job_id))
        found = []
        for (member, _), raw in zip(pairs, pipe.execute() if pairs else []):
            rec = record_from_hash(raw)
            if rec is not None and self._matches(rec, q):
                found.append((member, rec))
        return found

    def page(self, q: JobQuery) -> tuple[list[dict[str, Any]], str | None]:
        """One page of live jobs matching ``q``, and the cursor of the next page."""
        index = self._pick_index(q)
        high, low = _bounds(q)
        found: list[tuple[str, dict[str, Any]]] = []
        chunk, scanned, last, more = q.limit + 1, 0, None, False
        while len(found) <= q.limit:
            if scanned >= SCAN_BUDGET:
                more = True  # out of budget, not out of members: the cursor goes on
                break
            asked = min(chunk, SCAN_BUDGET - scanned)
            members: list[bytes] = self.client.zrange(  # type: ignore[assignment]
                index, high, low, desc=True, bylex=True, offset=0, num=asked)
            if not members:
                break
            scanned += len(members)
            found.extend(self._read(members, q))
            last = members[-1].decode()
            high = "(" + last
            if len(members) < asked:
                break
            chunk = _CHUNK if q.id_prefix is None else _PREFIX_CHUNK
        page = found[: q.limit]
        next_cursor = None
        if len(found) > q.limit:
            next_cursor = encode_cursor(*split_index_member(page[-1][0]))
        elif more and last is not None:
            next_cursor = encode_cursor(*split_index_member(last))
        return [rec for _, rec in page], next_cursor

    def pipeline_records(self, pipeline_id: str, limit: int = 10_000) -> list[dict[str, Any]]:
        """Every live job of one pipeline, oldest first."""
        members: list[bytes] = self.client.zrange(  # type: ignore[assignment]
            self.keys.index("pipeline", pipeline_id), "-", "+", bylex=True, offset=0, num=limit)
        pipe = self.client.pipeline(transaction=False)
        for member in members:
            pipe.hgetall(self.keys.job(split_index_member(member.decode())[1]))
        return [r for r in (record_from_hash(h) for h in pipe.execute()) if r is not None]
