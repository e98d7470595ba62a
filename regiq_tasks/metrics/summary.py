"""Pure reading of the metric hashes: parse, subtract, and summarize one scope.

A ``P m:cum:<scope>`` hash (and each snapshot of it) holds counts and sums only, so the
jobs of a window are a field-by-field difference of two hashes (:func:`subtract`), and
everything DESIGN.md's ``types[...]`` entry shows derives from that difference
(:func:`summarize`). Percentiles come from :class:`~regiq_tasks.metrics.histogram.Histogram`
without the exact minimum and maximum (a difference cannot keep them): every percentile,
``max`` included, is the geometric midpoint of its bucket, within 6.9% of the exact one.

Peak RSS is kept in the same log buckets over ``bytes * RSS_SCALE`` (100 B .. 630 GB, one
R20 step apart): ``peak_rss_bytes_max`` is the midpoint of the top non-empty bucket,
within 6.9% of the true maximum of the window.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from regiq_tasks.metrics.histogram import BUCKETS, Histogram

RSS_SCALE = 1e-6  # RSS buckets hold bytes * RSS_SCALE on the seconds axis (as apply.lua)
OUTCOMES = ("succeeded", "failed", "cancelled", "lost")  # final statuses, in DESIGN order
SNAPSHOT_TIME = "_at"  # field of a snapshot copy: when it was taken (s)
DURATION_QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
WAIT_QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
DIGITS = 6  # decimals of the floats answered

Fields = dict[str, float]


def parse(raw: Mapping[bytes, bytes]) -> Fields:
    """A metric hash as read by redis-py: field name to number."""
    return {k.decode(): float(v) for k, v in raw.items()}


def subtract(later: Fields, earlier: Fields | None) -> Fields:
    """The counts recorded between two copies (none below zero; ``_at`` dropped)."""
    base = earlier or {}
    return {k: max(0.0, v - base.get(k, 0.0)) for k, v in later.items() if k != SNAPSHOT_TIME}


def _histogram(fields: Fields, prefix: str, total_field: str) -> Histogram:
    """The histogram of the ``<prefix>:<i>`` fields with the sum in ``total_field``."""
    counts = {i: int(c) for i, c in _bucket_fields(fields, prefix).items()}
    return Histogram(counts, fields.get(total_field, 0.0))


def _bucket_fields(fields: Fields, prefix: str) -> dict[int, float]:
    """``{bucket index: count}`` of the fields named ``<prefix>:<i>``."""
    marker = prefix + ":"
    out = {}
    for name, value in fields.items():
        if name.startswith(marker) and value > 0:
            index = int(name[len(marker):])
            if index < BUCKETS:
                out[index] = value
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, DIGITS)


def _stats(h: Histogram, quantiles: Mapping[str, float]) -> dict[str, float | None]:
    """Mean, the named quantiles and the max of a histogram (None where empty)."""
    out = {"mean": _round(h.mean)}
    out.update({name: _round(h.quantile(q)) for name, q in quantiles.items()})
    out["max"] = _round(h.quantile(1.0))
    return out


def peak_rss_max(fields: Fields) -> int | None:
    """The window's peak RSS in bytes: the midpoint of the top non-empty RSS bucket."""
    counts = {i: int(c) for i, c in _bucket_fields(fields, "r").items()}
    top = Histogram(counts).quantile(1.0)
    return None if top is None else int(round(top / RSS_SCALE))


def outcome_counts(fields: Fields) -> dict[str, int]:
    """The final outcomes, ``count`` (their sum) and ``retried`` of a difference."""
    counts = {name: int(fields.get(f"n:{name}", 0)) for name in OUTCOMES}
    return {"count": sum(counts.values()), **counts,
            "retried": int(fields.get("n:retried", 0))}


def summarize(fields: Fields, span_s: float) -> dict[str, Any]:
    """One ``types[...]`` entry (without ``type``) of the jobs in a difference."""
    counts = outcome_counts(fields)
    n = counts["count"]
    cpu_n = fields.get("cn", 0.0)
    return {**counts,
            "success_rate": round(counts["succeeded"] / n, 3) if n else None,
            "throughput_per_min": round(n / (span_s / 60), 3) if span_s > 0 else None,
            "duration_s": _stats(_histogram(fields, "d", "ds"), DURATION_QUANTILES),
            "queue_wait_s": _stats(_histogram(fields, "w", "ws"), WAIT_QUANTILES),
            "cpu_time_s_mean": _round(fields.get("cpu", 0.0) / cpu_n) if cpu_n else None,
            "peak_rss_bytes_max": peak_rss_max(fields)}


def series_point(fields: Fields | None) -> dict[str, Any]:
    """``finished``, ``failed`` and ``duration_p95_s`` of one series step (None: unknown)."""
    if fields is None:
        return {"finished": None, "failed": None, "duration_p95_s": None}
    counts = outcome_counts(fields)
    return {"finished": counts["count"], "failed": counts["failed"],
            "duration_p95_s": _round(_histogram(fields, "d", "ds").quantile(0.95))}
