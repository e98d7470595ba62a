"""A metric hash parsed once, and the differences a window reads from two of them.

A ``P m:cum:<scope>`` hash (and each copy of it) holds counts and sums only, so the jobs
of a window are a field-by-field difference of two hashes. :func:`parse` turns a hash
into a :class:`State`: the scalars in :data:`SCALAR_FIELDS` order and each histogram as
a dense list of :data:`~regiq_tasks.metrics.histogram.BUCKETS` counts, so that a
difference, its running sum and the bucket of a rank are C-level list operations
(``map``, ``accumulate``, ``bisect``), never a Python loop over fields: a 7 d read over
50 types reduces ~30,000 counts. :func:`entry` reduces ``later - earlier`` to what a
``types[...]`` entry needs (the scalars, each histogram's count and the bucket of each
nearest rank, the top RSS bucket) and :func:`point` to a series point. Copies never
change once taken: the reader keeps their states in a :class:`CopyCache` keyed by
boundary, scope and ``_at``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, repeat
from operator import sub
from typing import Any

from regiq_tasks.metrics.histogram import BUCKETS

_LETTERS = ("d", "w", "r")  # duration, queue-wait and RSS histograms (keys.py, m:cum)
_HIST_NAMES = tuple(tuple(f"{letter}:{i}".encode() for i in range(BUCKETS))
                    for letter in _LETTERS)
# The scalars of an entry, in the order of summary.SCALARS.
SCALAR_FIELDS = ("n:succeeded", "n:failed", "n:cancelled", "n:lost", "n:retried",
                 "ds", "ws", "cpu", "cn", "n:published")
_SCALAR_NAMES = tuple(name.encode() for name in SCALAR_FIELDS)
_FAILED = SCALAR_FIELDS.index("n:failed")
_OUTCOMES = slice(0, 4)  # succeeded, failed, cancelled, lost: the finished jobs
DURATION_RANKS = (5000, 9000, 9500, 9900, 10000)  # p50 p90 p95 p99 max, per 10,000
WAIT_RANKS = (5000, 9500, 9900, 10000)  # p50 p95 p99 max, per 10,000
SERIES_RANKS = (5000, 9500)  # p50 p95 of a series point's durations, per 10,000
CACHE_SIZE = 8192  # parsed copies kept per Redis client (a 7 d read over 50 types: ~140)
_NO_COUNTS = (0,) * BUCKETS


@dataclass(frozen=True, slots=True)
class State:
    """One metric hash: the scalars (SCALAR_FIELDS order) and three dense histograms."""

    scalars: tuple[int, ...] = (0,) * len(SCALAR_FIELDS)
    hists: tuple[Sequence[int], ...] = field(
        default_factory=lambda: (_NO_COUNTS, _NO_COUNTS, _NO_COUNTS))
    at: str | None = None  # a copy's ``_at`` as stored (when it was taken); None: live


EMPTY = State()


def parse(raw: Mapping[bytes, bytes]) -> State:
    """A hash as redis-py's HGETALL gives it (every field an integer but ``_at``)."""
    at = raw.get(b"_at")
    counts = {name: value for name, value in raw.items() if name != b"_at"} \
        if at is not None else raw
    ints = dict(zip(counts, map(int, counts.values())))
    get = ints.get
    return State(tuple(map(get, _SCALAR_NAMES, repeat(0))),
                 tuple(list(map(get, names, repeat(0))) for names in _HIST_NAMES),
                 None if at is None else at.decode())


def _rank(per_10000: int, n: int) -> int:
    """The nearest rank ``max(1, ceil(q * n))`` of ``q = per_10000 / 10000``, exactly."""
    return max(1, -(-per_10000 * n // 10000))


def at_ranks(later: Sequence[int], earlier: Sequence[int],
             ranks: Sequence[int]) -> list[int]:
    """The count of ``later - earlier``, then the bucket holding each rank (-1: none)."""
    running = list(accumulate(map(sub, later, earlier)))
    n = running[-1]
    if n <= 0:
        return [0] + [-1] * len(ranks)
    return [n, *(bisect_left(running, _rank(q, n)) for q in ranks)]


def _top(later: Sequence[int], earlier: Sequence[int]) -> int:
    """The highest bucket that gained a count (-1: none)."""
    for index in range(len(later) - 1, -1, -1):
        if later[index] > earlier[index]:
            return index
    return -1


def entry(scope: str, later: State, earlier: State) -> list[Any]:
    """``[scope, scalars..., d count, d ranks..., w count, w ranks..., top RSS bucket]``."""
    out: list[Any] = [scope, *map(sub, later.scalars, earlier.scalars)]
    out += at_ranks(later.hists[0], earlier.hists[0], DURATION_RANKS)
    out += at_ranks(later.hists[1], earlier.hists[1], WAIT_RANKS)
    out.append(_top(later.hists[2], earlier.hists[2]))
    return out


def point(later: State, earlier: State) -> list[float]:
    """``[finished, failed, bucket of the duration p50, of the p95]`` between two states."""
    gained = list(map(sub, later.scalars, earlier.scalars))
    return [sum(gained[_OUTCOMES]), gained[_FAILED],
            *at_ranks(later.hists[0], earlier.hists[0], SERIES_RANKS)[1:]]


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
