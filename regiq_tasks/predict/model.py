"""The arithmetic of the predictions, on plain numbers (no Redis, no clock).

A job type's durations are taken as log-normal: ``mu = ln p50`` and ``sigma`` from the
ratio of p90 to p50. A running job that has lasted ``t`` is expected to end at the
median of the durations longer than ``t`` (the conditional median), so its remaining
time shrinks as it runs but never reaches zero while it keeps going. A queue is a FIFO
served by ``slots`` equal workers: the jobs ahead are placed, in order, on the slot
free first (list scheduling). A pipeline's remaining time follows its graph: a chain
adds its steps, a group waits for its slowest member, a chord for its header then its
body.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, TypeVar

Z90 = NormalDist().inv_cdf(0.90)  # standard normal quantiles of the p90 and p99
DEFAULT_SIGMA = 0.5  # log-normal spread assumed when p90 does not tell (p90 == p50)
MIN_SIGMA = 0.05  # spread never assumed narrower than this (bucket resolution ~6%)
MAX_QUANTILE = 1 - 1e-9  # conditional quantiles are clipped below 1
FINAL = frozenset({"succeeded", "failed", "cancelled", "lost"})
_NORMAL = NormalDist()
Range = tuple[float, float]  # (from the p50, from the p90), seconds


@dataclass(frozen=True, slots=True)
class TypeStats:
    """One job type's finished runs over the stats window and their duration percentiles."""

    runs: int
    p50: float | None
    p90: float | None
    p99: float | None
    wait_p50: float | None = None  # queue-wait p50: what a step not yet published will wait

    @property
    def sigma(self) -> float:
        """The log-normal spread fitted to p50 and p90."""
        if not self.p50 or not self.p90 or self.p90 <= self.p50:
            return DEFAULT_SIGMA
        return max(MIN_SIGMA, math.log(self.p90 / self.p50) / Z90)


def conditional_quantile(stats: TypeStats, elapsed: float, q: float) -> float | None:
    """The ``q`` quantile of the durations longer than ``elapsed`` (None: no p50)."""
    if not stats.p50:
        return None
    mu, sigma = math.log(stats.p50), stats.sigma
    below = _NORMAL.cdf((math.log(elapsed) - mu) / sigma) if elapsed > 0 else 0.0
    level = min(MAX_QUANTILE, below + (1 - below) * q)
    return max(elapsed, math.exp(mu + sigma * _NORMAL.inv_cdf(level)))


def remaining_range(stats: TypeStats | None, elapsed: float) -> Range | None:
    """Remaining seconds of a run that has lasted ``elapsed``: conditional median, p90."""
    if stats is None or not stats.p50:
        return None
    mid = conditional_quantile(stats, elapsed, 0.5)
    high = conditional_quantile(stats, elapsed, 0.9)
    if mid is None or high is None:
        return None
    return mid - elapsed, high - elapsed


def start_wait(ahead: Sequence[float], busy: Sequence[float], slots: int) -> float:
    """Seconds until the next job starts: ``ahead`` (durations, FIFO) placed on ``slots``
    slots, of which ``busy`` are still taken for their remaining seconds."""
    width = max(1, slots, len(busy))
    free = sorted(max(0.0, b) for b in busy)[:width]
    free += [0.0] * (width - len(free))
    heapq.heapify(free)
    for duration in ahead:
        heapq.heappush(free, heapq.heappop(free) + max(0.0, duration))
    return free[0]


def planned_range(stats: TypeStats | None) -> Range | None:
    """Seconds a step not yet published needs: its type's typical queue wait, then its
    p50 (or p90) duration."""
    if stats is None or not stats.p50:
        return None
    wait = stats.wait_p50 or 0.0
    return wait + stats.p50, wait + (stats.p90 or stats.p50)


def slow_threshold(stats: TypeStats | None, expected_duration: float | None,
                   min_runs: int, margin: float = 1.0) -> float | None:
    """Seconds after which a running job is slow: its ``expected_duration`` where set,
    else ``margin`` times its type's p99 once the type has ``min_runs`` runs; None: no
    threshold."""
    if expected_duration:
        return float(expected_duration)
    if stats is None or stats.runs < min_runs or not stats.p99:
        return None
    return stats.p99 * margin


def is_slow(elapsed: float | None, threshold: float | None) -> bool:
    """True once a job has run past its threshold."""
    return elapsed is not None and threshold is not None and elapsed > threshold


Step = TypeVar("Step")  # what the graph's task nodes point at: a step of the pipeline


def graph_remaining(node: Mapping[str, Any] | None, steps: Sequence[Step],
                    step_eta: Callable[[Step], Range | None]) -> Range | None:
    """Remaining seconds of a pipeline graph along its critical path (None: unknown);
    a task node's ``job`` is its index in ``steps``, whose ETA ``step_eta`` tells."""
    if node is None:
        return None
    kind = node.get("kind")
    if kind == "task":
        parts = [step_eta(steps[node["job"]])]
        parts += [graph_remaining(n, steps, step_eta) for n in node.get("spawned") or ()]
        return _longest(parts)
    if kind == "chain":
        return _total([graph_remaining(n, steps, step_eta) for n in node["steps"]])
    if kind == "group":
        return _longest([graph_remaining(n, steps, step_eta) for n in node["members"]])
    if kind == "chord":
        header = _longest([graph_remaining(n, steps, step_eta) for n in node["header"]])
        return _total([header, graph_remaining(node.get("body"), steps, step_eta)])
    return None


def _total(parts: Sequence[Range | None]) -> Range | None:
    if any(p is None for p in parts):
        return None
    return sum(p[0] for p in parts if p), sum(p[1] for p in parts if p)


def _longest(parts: Sequence[Range | None]) -> Range | None:
    if any(p is None for p in parts):
        return None
    known = [p for p in parts if p]
    return (max(p[0] for p in known), max(p[1] for p in known)) if known else (0.0, 0.0)
