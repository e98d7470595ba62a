"""Percentile error of the metrics histograms against exact percentiles, and their size.

Usage:
    python benchmarks/bench_percentiles.py [--jobs 100000] [--minutes 60] [--seeds 5]
        [--json PATH | --no-json]

No Redis, no worker: this measures ``regiq_tasks.metrics.histogram`` alone. For each seed,
``--jobs`` durations are drawn from a log-normal mix of job types (different medians
and sigmas, table ``MIX``) and spread evenly over ``--minutes`` minutes. Each (type,
minute) gets its own histogram, as the per-minute Redis hashes will hold; a window read
merges the minutes of a type (and of all types for the totals) and reads p50/p95/p99.
"Exact" is the nearest-rank percentile of the same durations (the ``k``-th smallest,
``k = ceil(q * n)``; numpy's ``inverted_cdf``), the definition the histogram promises
to be within 6.9% of. Reported: the relative error per type and percentile, its
maximum (target <= 10%), the non-empty buckets per type (merged window, and per minute
hash), and the cost of ``bucket_index`` and of a 60-minute merge and read.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

from regiq_tasks.metrics.histogram import (
    MAX_RELATIVE_ERROR,
    Histogram,
    bucket_index,
    merge,
    nearest_rank,
)

QUANTILES = (0.5, 0.95, 0.99)
# (type, share of jobs, median duration s, sigma of log duration)
MIX: tuple[tuple[str, float, float, float], ...] = (
    ("email", 0.30, 0.012, 1.5),
    ("thumbnail", 0.30, 0.08, 0.6),
    ("ingest", 0.20, 3.9, 0.5),
    ("report", 0.15, 45.0, 1.0),
    ("etl", 0.05, 900.0, 0.8),
)


def draw_jobs(jobs: int, minutes: int, seed: int) -> list[tuple[str, int, float]]:
    """``(type, minute, duration s)`` of ``jobs`` jobs of the MIX, minutes round-robin."""
    rng = random.Random(seed)
    names = [name for name, *_ in MIX]
    shape = {name: (math.log(median), sigma) for name, _, median, sigma in MIX}
    types = rng.choices(names, weights=[share for _, share, *_ in MIX], k=jobs)
    return [(t, i % minutes, rng.lognormvariate(*shape[t])) for i, t in enumerate(types)]


def exact(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` percentile of ``values``."""
    return sorted(values)[nearest_rank(q, len(values)) - 1]


def one_seed(jobs: int, minutes: int, seed: int) -> list[dict[str, Any]]:
    """Per type (and ``*`` for all types) the exact and histogram percentiles and sizes."""
    drawn = draw_jobs(jobs, minutes, seed)
    per_minute: dict[tuple[str, int], list[float]] = {}
    for t, minute, duration in drawn:
        per_minute.setdefault((t, minute), []).append(duration)
    hists = {key: Histogram.of(values) for key, values in per_minute.items()}
    rows = []
    for name in [*(n for n, *_ in MIX), "*"]:
        keys = [k for k in hists if name in ("*", k[0])]
        window = merge(hists[k] for k in keys)
        values = [v for k in keys for v in per_minute[k]]
        row: dict[str, Any] = {"seed": seed, "type": name, "jobs": len(values),
                               "buckets": len(window.counts),
                               "buckets_per_minute": sum(len(hists[k].counts) for k in keys)
                               / len(keys)}
        for q in QUANTILES:
            truth, got = exact(values, q), window.quantile(q)
            assert got is not None
            row[f"p{round(q * 100)}"] = (truth, got, abs(got - truth) / truth)
        rows.append(row)
    return rows


def costs(minutes: int) -> dict[str, float]:
    """ns per ``bucket_index`` call; µs to merge ``minutes`` histograms and read 4 quantiles."""
    rng = random.Random(0)
    values = [rng.lognormvariate(0, 3) for _ in range(100_000)]
    start = time.perf_counter_ns()
    for v in values:
        bucket_index(v)
    per_call = (time.perf_counter_ns() - start) / len(values)
    hists = [Histogram.of(values[i::minutes]) for i in range(minutes)]
    start = time.perf_counter_ns()
    for _ in range(20):
        window = merge(hists)
        [window.quantile(q) for q in (0.5, 0.9, 0.95, 0.99)]
    read_us = (time.perf_counter_ns() - start) / 20 / 1000
    return {"bucket_index_ns": per_call, "merge_and_read_us": read_us,
            "buckets_merged": sum(len(h.counts) for h in hists)}


def report(rows: list[dict[str, Any]]) -> float:
    """Print the table of the worst figures per type; return the max relative error."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_type.setdefault(row["type"], []).append(row)
    lines, worst = [], 0.0
    for name, runs in by_type.items():
        errors = [max(r[f"p{round(q * 100)}"][2] for r in runs) for q in QUANTILES]
        worst = max(worst, *errors)
        last = runs[-1]
        lines.append([name, last["jobs"], *(f"{e:.2%}" for e in errors),
                      f"{last['p50'][0]:.4g} / {last['p50'][1]:.4g}",
                      max(r["buckets"] for r in runs),
                      f"{max(r['buckets_per_minute'] for r in runs):.1f}"])
    print(common.table(["type", "jobs", "max err p50", "p95", "p99",
                        "p50 exact / hist (last seed)", "buckets (window)",
                        "buckets / minute"], lines))
    return worst


def main() -> None:
    """Run the seeds, print the figures, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--json", default=None)
    parser.add_argument("--no-json", action="store_true")
    args = parser.parse_args()
    info = common.header("bench_percentiles")
    rows = [row for seed in range(1, args.seeds + 1)
            for row in one_seed(args.jobs, args.minutes, seed)]
    worst = report(rows)
    cost = costs(args.minutes)
    print(f"max relative error of p50/p95/p99 over {args.seeds} seeds x {args.jobs} jobs: "
          f"{worst:.2%} (bound {MAX_RELATIVE_ERROR:.2%}, target <= 10%): "
          f"{'met' if worst <= 0.10 else 'NOT MET'}")
    print(f"bucket_index {cost['bucket_index_ns']:.0f} ns/call; merge of {args.minutes} "
          f"minute histograms ({cost['buckets_merged']} buckets) + 4 quantiles "
          f"{cost['merge_and_read_us']:.0f} µs")
    if not args.no_json:
        path = common.write_json("percentiles", {"machine": info, "args": vars(args),
                                                 "max_relative_error": worst,
                                                 "costs": cost, "rows": rows}, args.json)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
