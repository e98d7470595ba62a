"""A metric hash parsed once, and the differences a window reads from two of them.

A ``P m:cum:<scope>`` hash (and each copy of it) holds counts and sums only, so the jobs
of a window are a field-by-field difference of two hashes. :func:`parse` turns a hash
into a :class:`State` (scalars by name, each histogram as ``{bucket: count}``);
:func:`entry` reduces ``later - earlier`` to what a ``types[...]`` entry needs (the
scalars, each histogram's count and the bucket of each nearest rank, the top RSS
bucket) and :func:`point` to a series point. Copies never change once taken: the reader
keeps their states in a :class:`CopyCache` keyed by boundary, scope and ``_at``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from regiq_tasks.metrics.histogram import BUCKETS

_LETTERS = ("d", "w", "r")  # duration, queue-wait and RSS histograms (keys.py, m:cum)
_FIELDS = {f"{letter}:{i}".encode(): (slot, i)
           for slot, letter in enumerate(_LETTERS) for i in range(BUCKETS)}
# The scalars of an entry, in the order of summary.SCALARS.
SCALAR_FIELDS = ("n:succeeded", "n:failed", "n:cancelled", "n:lost", "n:retried",
                 "ds", "ws", "cpu", "cn")
DURATION_RANKS = (5000, 9000, 9500, 9900, 10000)  # p50 p90 p95 p99 max, per 10,000
WAIT_RANKS = (5000, 9500, 9900, 10000)  # p50 p95 p99 max, per 10,000
SERIES_RANKS = (5000, 9500)  # p50 p95 of a series point's durations, per 10,000
OUTCOME_FIELDS = ("n:succeeded", "n:failed", "n:cancelled", "n:lost")
CACHE_SIZE = 8192  # parsed copies kept per Redis client (a 7 d read over 50 types: ~140)


@dataclass(frozen=True, slots=True)
class State:
    """One metric hash: scalars by field name and the three histograms."""

    scalars: dict[str, float] = field(default_factory=dict)
    hists: tuple[dict[int, int], ...] = field(default_factory=lambda: ({}, {}, {}))
    at: str | None = None  # a copy's ``_at`` as stored (when it was taken); None: live


EMPTY = State()


def parse(raw: Mapping[bytes, bytes]) -> State:
    """A hash as redis-py's HGETALL gives it."""
    scalars: dict[str, float] = {}
    hists: tuple[dict[int, int], ...] = ({}, {}, {})
    at = raw.get(b"_at")
    for name, value in raw.items():
        slot = _FIELDS.get(name)
        if slot is not None:
            hists[slot[0]][slot[1]] = int(value)
        elif name != b"_at":
            scalars[name.decode()] = float(value)
    return State(scalars, hists, None if at is None else at.decode())


def _rank(per_10000: int, n: int) -> int:
    """The nearest rank ``max(1, ceil(q * n))`` of ``q = per_10000 / 10000``, exactly."""
    return max(1, -(-per_10000 * n // 10000))


def at_ranks(later: dict[int, int], earlier: dict[int, int],
             ranks: Sequence[int]) -> list[int]:
    """The count of ``later - earlier``, then the bucket holding each rank (-1: none)."""
    get = earlier.get
    diffs = {i: c - get(i, 0) for i, c in later.items()}
    n = sum(diffs.values())
    if n <= 0:
        return [0] + [-1] * len(ranks)
    out = [n]
    targets = [_rank(q, n) for q in ranks]
    k, last, seen = 0, len(targets), 0
    for index in sorted(diffs):
        seen += diffs[index]
        while seen >= targets[k]:
            out.append(index)
            k += 1
            if k == last:
                return out
    return out


def entry(scope: str, later: State, earlier: State) -> list[Any]:
    """``[scope, scalars..., d count, d ranks..., w count, w ranks..., top RSS bucket]``."""
    out: list[Any] = [scope]
    out += [later.scalars.get(n, 0.0) - earlier.scalars.get(n, 0.0) for n in SCALAR_FIELDS]
    out += at_ranks(later.hists[0], earlier.hists[0], DURATION_RANKS)
    out += at_ranks(later.hists[1], earlier.hists[1], WAIT_RANKS)
    rss, before = later.hists[2], earlier.hists[2]
    out.append(max((i for i, c in rss.items() if c > before.get(i, 0)), default=-1))
    return out


def point(later: State, earlier: State) -> list[float]:
    """``[finished, failed, bucket of the duration p50, of the p95]`` between two states."""
    finished = sum(later.scalars.get(n, 0.0) - earlier.scalars.get(n, 0.0)
                   for n in OUTCOME_FIELDS)
    failed = later.scalars.get("n:failed", 0.0) - earlier.scalars.get("n:failed", 0.0)
    return [finished, failed, *at_ranks(later.hists[0], earlier.hists[0], SERIES_RANKS)[1:]]


class CopyCache:
    """What was read or computed from copies (which never change once taken), by their
    ``(key, _at)``; the least recently used dropped beyond CACHE_SIZE entries."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, ...], Any] = OrderedDict()

    def get(self, *key: str) -> Any:
        """The value kept under ``key``, or None."""
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, value: Any, *key: str) -> None:
        """Keep ``value`` under ``key``."""
        self._items[key] = value
        if len(self._items) > self.size:
            self._items.popitem(last=False)


def cached_point(cache: CopyCache, later: State, earlier: State, *key: str) -> list[float]:
    """:func:`point` between two copies, computed once per pair."""
    found = cache.get("point", *key)
    if found is None:
        found = point(later, earlier)
        cache.put(found, "point", *key)
    return found  # type: ignore[no-any-return]
