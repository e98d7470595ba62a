"""Fixed log-spaced histogram buckets for durations and queue waits, and their reading.

Bounds. ``BOUNDS`` are the ISO 3 / Renard R20 preferred numbers 1.00 1.12 1.25 1.40
1.60 1.80 2.00 2.24 2.50 2.80 3.15 3.55 4.00 4.50 5.00 5.60 6.30 7.10 8.00 9.00 times a
power of ten: the terms of the geometric series ``10 ** (k / 20)`` rounded to three
digits, 20 per decade, log-spaced to within 1.2%. They run from 100 µs to 630,000 s
(7.3 days), 197 bounds. Bucket ``i`` holds the values ``BOUNDS[i-1] < x <= BOUNDS[i]``
(upper bound included, as Prometheus' ``le``); bucket 0 is the underflow
(``0 <= x <= 100 µs``) and bucket ``OVERFLOW`` (197) the overflow (``x > 7.3 d``).
These numbers are persisted (Redis hash fields name bucket indexes): changing them is a
data migration, and ``tests/test_metrics_histogram.py`` pins them.

Error bound. ``Histogram.quantile(q)`` reads by nearest rank: it finds the bucket of the
``k``-th smallest value, ``k = max(1, ceil(q * n))``, and answers that bucket's
geometric midpoint, the bucket first narrowed to the exact minimum and maximum kept
beside the counts. The exact percentile defined the same way (the ``k``-th smallest
sample: nearest rank, numpy's ``method="inverted_cdf"``) lies in that bucket, so in a
bucket ``(lo, hi]`` with ``hi = r * lo`` the relative error is at most ``sqrt(r) - 1``.
The widest R20 step is 1.40 -> 1.60 (``r = 8/7``): every percentile between 100 µs and
7.3 days is within ``sqrt(8/7) - 1 = 6.9%`` of the exact one (the target is 10%).
Interpolating inside the bucket would only promise ``r - 1 = 14.3%``. Narrowing to
[min, max] never moves the answer away from the exact value, and the first and the
last rank answer the exact minimum and maximum (so p99 of one value is that value).
Outside the range: the underflow answers the arithmetic midpoint of
[min, min(max, 100 µs)] (off by at most 50 µs), the overflow the geometric midpoint of
(7.3 d, max].

Prometheus. ``PROMETHEUS_LE`` is a fixed subset of ``BOUNDS`` (Prometheus' default
boundaries 0.005 .. 10 s extended by 1-2.5-5 steps to 10,000 s); ``prometheus_buckets``
counts exactly the values ``<= le`` from the same buckets, so the Prometheus histograms
and our percentiles come from one source.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from types import MappingProxyType

# R20 mantissas in hundredths; BOUNDS spans these times 10**-6 .. 10**3 up to LAST_BOUND.
_R20 = (100, 112, 125, 140, 160, 180, 200, 224, 250, 280,
        315, 355, 400, 450, 500, 560, 630, 710, 800, 900)
STEPS_PER_DECADE = 20  # R20: twenty bounds per decade
FIRST_BOUND = 1e-4  # seconds: upper bound of the underflow bucket (100 µs)
LAST_BOUND = 630_000.0  # seconds: last finite bound (7.3 days); beyond is the overflow


def _r20_bounds() -> tuple[float, ...]:
    """The R20 numbers from FIRST_BOUND to LAST_BOUND, each the double nearest its decimal."""
    out: list[float] = []
    exponent = round(math.log10(FIRST_BOUND)) - 2
    while not out or out[-1] < LAST_BOUND:
        out.extend(float(f"{m}e{exponent}") for m in _R20)
        exponent += 1
    return tuple(b for b in out if FIRST_BOUND <= b <= LAST_BOUND)


BOUNDS: tuple[float, ...] = _r20_bounds()
UNDERFLOW = 0  # bucket index of 0 <= x <= FIRST_BOUND
OVERFLOW = len(BOUNDS)  # bucket index of x > LAST_BOUND (197)
BUCKETS = OVERFLOW + 1  # number of bucket indexes, underflow and overflow included
MAX_RELATIVE_ERROR = math.sqrt(max(b / a for a, b in zip(BOUNDS, BOUNDS[1:]))) - 1
UNDERFLOW_ABSOLUTE_ERROR = FIRST_BOUND / 2  # seconds, for percentiles in the underflow

# The Prometheus ``le`` boundaries (seconds), every one of them an element of BOUNDS.
PROMETHEUS_LE: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0)

_LOG_FIRST = math.log10(FIRST_BOUND)


class HistogramKind(StrEnum):
    """Which histogram a Redis hash field belongs to (its field name prefix)."""

    DURATION = "d"
    WAIT = "w"


def bucket_index(seconds: float) -> int:
    """The index of the bucket holding ``seconds`` (>= 0): O(1), exact at every bound."""
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(f"a duration must be a number >= 0, not {seconds!r}")
    if seconds <= FIRST_BOUND:
        return UNDERFLOW
    if seconds > LAST_BOUND:
        return OVERFLOW
    guess = math.ceil(STEPS_PER_DECADE * (math.log10(seconds) - _LOG_FIRST))
    i = min(max(guess, 1), OVERFLOW - 1)
    # R20 rounding moves a bound off 10**(k/20) by less than a tenth of a step, and log10
    # is off by ulps: the guess is at most one bucket away; the table decides edges.
    while seconds <= BOUNDS[i - 1]:
        i -= 1
    while seconds > BOUNDS[i]:
        i += 1
    return i


def bucket_bounds(index: int) -> tuple[float, float]:
    """The ``(lo, hi]`` of bucket ``index``: ``(0, 100 µs]`` .. ``(7.3 d, inf)``."""
    _check_index(index)
    lo = 0.0 if index == UNDERFLOW else BOUNDS[index - 1]
    hi = math.inf if index == OVERFLOW else BOUNDS[index]
    return lo, hi


def field_name(kind: HistogramKind, index: int) -> str:
    """The Redis hash field counting bucket ``index`` of a histogram: ``"d:12"``."""
    _check_index(index)
    return f"{kind.value}:{index}"


def parse_field_name(name: str | bytes) -> tuple[HistogramKind, int] | None:
    """The kind and bucket index a hash field name counts, or None if it is no bucket."""
    text = name.decode() if isinstance(name, bytes) else name
    prefix, sep, digits = text.partition(":")
    if not sep or prefix not in _KINDS or not (digits.isascii() and digits.isdigit()):
        return None
    index = int(digits)
    if index >= BUCKETS or str(index) != digits:  # one spelling per bucket: no "d:07"
        return None
    return HistogramKind(prefix), index


def counts_from_fields(fields: Mapping[str, str] | Mapping[bytes, bytes],
                       kind: HistogramKind) -> dict[int, int]:
    """The ``{bucket index: count}`` of one kind from a Redis hash (other fields ignored)."""
    counts: dict[int, int] = {}
    for name, value in fields.items():
        parsed = parse_field_name(name)
        if parsed is not None and parsed[0] is kind:
            counts[parsed[1]] = int(value)
    return counts


def nearest_rank(q: float, n: int) -> int:
    """The 1-based rank of the ``q`` quantile of ``n`` values: ``max(1, ceil(q * n))``.

    ``q`` is read as the decimal it prints as (0.95 is 19/20), so ``0.95 * 100`` is rank
    95 and never 96 through binary rounding.
    """
    if not 0 <= q <= 1:
        raise ValueError(f"a quantile must be within [0, 1], not {q!r}")
    return max(1, math.ceil(Fraction(str(q)) * n))


@dataclass(frozen=True, slots=True)
class Histogram:
    """Counts of non-empty buckets with the exact sum, minimum and maximum of the values."""

    counts: Mapping[int, int] = field(default_factory=dict)
    total: float = 0.0
    minimum: float | None = None
    maximum: float | None = None

    def __post_init__(self) -> None:
        """Keep only non-empty buckets, in index order, read-only; refuse bad ones."""
        kept: dict[int, int] = {}
        for index, count in sorted(self.counts.items()):
            _check_index(index)
            if count < 0:
                raise ValueError(f"bucket {index} has a negative count {count}")
            if count:
                kept[index] = count
        object.__setattr__(self, "counts", MappingProxyType(kept))

    @classmethod
    def of(cls, values: Iterable[float]) -> Histogram:
        """The histogram of some values in seconds (what the Lua writer will record)."""
        counts: dict[int, int] = {}
        kept = list(values)
        for value in kept:
            index = bucket_index(value)
            counts[index] = counts.get(index, 0) + 1
        if not kept:
            return cls()
        return cls(counts, math.fsum(kept), float(min(kept)), float(max(kept)))

    @property
    def count(self) -> int:
        """How many values were recorded."""
        return sum(self.counts.values())

    @property
    def mean(self) -> float | None:
        """The exact mean (kept sum over count), None when empty."""
        n = self.count
        return self.total / n if n else None

    def quantile(self, q: float) -> float | None:
        """The nearest-rank ``q`` quantile, within MAX_RELATIVE_ERROR; None when empty."""
        n = self.count
        if n == 0:
            return None
        rank = nearest_rank(q, n)
        if rank == 1 and self.minimum is not None:
            return self.minimum
        if rank == n and self.maximum is not None:
            return self.maximum
        seen = 0
        for index, count in self.counts.items():
            seen += count
            if seen >= rank:
                return self._estimate(index)
        raise AssertionError("unreachable: the ranks are within the count")

    def prometheus_buckets(self) -> list[tuple[float, int]]:
        """Cumulative ``(le, count of values <= le)`` at PROMETHEUS_LE, then ``(inf, n)``."""
        out: list[tuple[float, int]] = []
        items = list(self.counts.items())
        seen, pos = 0, 0
        for le in PROMETHEUS_LE:
            last = _LE_INDEX[le]
            while pos < len(items) and items[pos][0] <= last:
                seen += items[pos][1]
                pos += 1
            out.append((le, seen))
        out.append((math.inf, self.count))
        return out

    def _estimate(self, index: int) -> float:
        """The value answered for a rank in bucket ``index``: its narrowed midpoint."""
        lo, hi = bucket_bounds(index)
        if self.minimum is not None:
            lo = max(lo, self.minimum)
        if self.maximum is not None:
            hi = min(hi, self.maximum)
        if math.isinf(hi) or hi <= lo:
            return lo
        if index == UNDERFLOW or lo <= 0:
            return (lo + hi) / 2
        return math.sqrt(lo * hi)


def merge(histograms: Iterable[Histogram]) -> Histogram:
    """The histogram of all the values of several histograms (minutes of a window)."""
    counts: dict[int, int] = {}
    totals: list[float] = []
    minima: list[float] = []
    maxima: list[float] = []
    for h in histograms:
        for index, count in h.counts.items():
            counts[index] = counts.get(index, 0) + count
        totals.append(h.total)
        if h.minimum is not None:
            minima.append(h.minimum)
        if h.maximum is not None:
            maxima.append(h.maximum)
    return Histogram(counts, math.fsum(totals), min(minima, default=None),
                     max(maxima, default=None))


def _check_index(index: int) -> None:
    """Refuse a bucket index outside 0 .. OVERFLOW."""
    if not 0 <= index < BUCKETS:
        raise ValueError(f"bucket index {index!r} is outside 0..{OVERFLOW}")


_KINDS = frozenset(k.value for k in HistogramKind)
_LE_INDEX = {le: BOUNDS.index(le) for le in PROMETHEUS_LE}  # fails at import if one is off
