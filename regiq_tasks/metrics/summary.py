"""Turn a window's reduced differences (``state.entry``) into DESIGN.md's entries.

``state.entry`` gives, per scope, the outcome counts, the sums, the count of each
histogram and the bucket of each nearest rank (p50 .. max). Here a bucket becomes a
value: its geometric midpoint (the midpoint of
``[0, 100 µs]`` for the underflow, the lower bound for the overflow), what
:meth:`Histogram.quantile <regiq_tasks.metrics.histogram.Histogram.quantile>` answers
without the exact minimum and maximum (a difference cannot keep them), so every
percentile, ``max`` included, is within 6.9% of the exact nearest-rank one.

Peak RSS is kept in the same log buckets over ``bytes * RSS_SCALE`` (100 B .. 630 GB):
``peak_rss_bytes_max`` is the midpoint of the top non-empty bucket, within 6.9% of the
window's true maximum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from regiq_tasks.metrics.histogram import UNDERFLOW, bucket_bounds

SUM_UNIT_S = 1e-6  # ds, ws and cpu are sums in microseconds (integers, HINCRBY)
RSS_SCALE = 1e-6  # RSS buckets hold bytes * RSS_SCALE on the seconds axis (as apply.lua)
OUTCOMES = ("succeeded", "failed", "cancelled", "lost")  # final statuses, in DESIGN order
# state.entry's order: the scalars of a scope entry, then the duration and wait ranks.
SCALARS = ("succeeded", "failed", "cancelled", "lost", "retried", "ds", "ws", "cpu", "cn",
           "published")
DURATION_RANKS = ("p50", "p90", "p95", "p99", "max")
WAIT_RANKS = ("p50", "p95", "p99", "max")
DIGITS = 6  # decimals of the floats answered


def bucket_value(index: int) -> float | None:
    """The value answered for a rank in bucket ``index`` (None for -1: no values)."""
    if index < 0:
        return None
    lo, hi = bucket_bounds(index)
    if math.isinf(hi):
        return lo
    if index == UNDERFLOW:
        return (lo + hi) / 2
    return math.sqrt(lo * hi)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, DIGITS)


def _stats(total: float, n: int, buckets: Sequence[float],
           names: Sequence[str]) -> dict[str, float | None]:
    """``mean`` and the named ranks of one histogram."""
    out = {"mean": _round(total / n) if n else None}
    out.update({name: _round(bucket_value(int(b))) for name, b in zip(names, buckets)})
    return out


def _per_min(n: int, span_s: float) -> float | None:
    """``n`` events over ``span_s`` seconds, per minute."""
    return round(n / (span_s / 60), 3) if span_s > 0 else None


def summarize(entry: Sequence[Any], span_s: float) -> dict[str, Any]:
    """One ``types[...]`` entry (without ``type``) from a ``state.entry``."""
    values = [float(v) for v in entry[1:]]
    s = dict(zip(SCALARS, values))
    counts = {name: int(s[name]) for name in OUTCOMES}
    n = sum(counts.values())
    pos = len(SCALARS)
    d_n, d_ranks = int(values[pos]), values[pos + 1:pos + 1 + len(DURATION_RANKS)]
    pos += 1 + len(DURATION_RANKS)
    w_n, w_ranks = int(values[pos]), values[pos + 1:pos + 1 + len(WAIT_RANKS)]
    rss = bucket_value(int(values[-1]))
    published = int(s["published"])
    return {"count": n, **counts, "retried": int(s["retried"]),
            "success_rate": round(counts["succeeded"] / n, 3) if n else None,
            "throughput_per_min": _per_min(n, span_s),
            "published": published, "published_per_min": _per_min(published, span_s),
            "duration_s": _stats(s["ds"] * SUM_UNIT_S, d_n, d_ranks, DURATION_RANKS),
            "queue_wait_s": _stats(s["ws"] * SUM_UNIT_S, w_n, w_ranks, WAIT_RANKS),
            "cpu_time_s_mean": _round(s["cpu"] * SUM_UNIT_S / s["cn"]) if s["cn"] else None,
            "peak_rss_bytes_max": None if rss is None else int(round(rss / RSS_SCALE))}


def series_point(point: Sequence[float] | None) -> dict[str, Any]:
    """``finished``, ``failed``, ``duration_p50_s`` and ``duration_p95_s`` of a series
    point (None: unknown)."""
    if not point:
        return {"finished": None, "failed": None, "duration_p50_s": None,
                "duration_p95_s": None}
    finished, failed, p50, p95 = (float(v) for v in point)
    return {"finished": int(finished), "failed": int(failed),
            "duration_p50_s": _round(bucket_value(int(p50))),
            "duration_p95_s": _round(bucket_value(int(p95)))}
