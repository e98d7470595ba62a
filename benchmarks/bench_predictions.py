"""Predictions from history, replayed: start and pipeline ETA errors, job_slow alerts.

Usage:
    python benchmarks/bench_predictions.py [--seconds 3600] [--slots 8] [--seed 1]
        [--margins 1.0,1.25,1.5]

No Redis, no worker: a simulated clock replays a realistic mix through the same
functions the readers use (``regiq_tasks.predict.model``), fed with the same
aggregates the metrics keep (each type's durations counted into the metric histogram
buckets, percentiles read with ``metrics.state.at_ranks`` and ``summary.bucket_value``).

The mix (``TYPES``): job types with log-normal durations (median, sigma). One FIFO
queue served by ``--slots`` equal slots. Arrivals: lone jobs (Poisson, 0.9/s), bursts
of 15-40 lone jobs every ~90 s, and pipelines (Poisson, one per 15 s):
``chain(fetch, group(ocr x 3-6), index, report)``, each step published when the one
before it ends (a group's members together), as Celery does. The history percentiles
come from 2,000 earlier runs per type (the "last 7 days"), the queue-wait p50 per type
from an earlier replay of the same length.

Measured, at 25%, 50% and 75% of the way:

- start ETA: for queued jobs that waited >= 1 s, at ``created + f * wait``, the
  prediction (jobs ahead by their type's p50, the running jobs' conditional median
  remaining time, list scheduling on the slots) against the true remaining wait;
- pipeline ETA: at ``created + f * span``, the critical-path prediction (finished
  steps 0, running ones their remaining time, queued ones their start wait plus p50,
  unpublished ones their type's queue-wait p50 plus duration p50) against the true
  remaining time, and how often the truth falls inside ``eta_range_s``;

each as the median of ``|predicted - true| / true``. The baseline, "no ETA until
progress", answers nothing for a queued job or a pipeline with steps to come: its error
is 100% by this measure. Then ``job_slow``: per type, 10,000 normal runs and 1,000
runs made 3x slower, against ``slow_threshold`` (p99 of the history times each margin
of ``--margins``): false alerts per 10,000 normal runs and the share of slow runs caught.
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from regiq_tasks.metrics.histogram import BUCKETS, bucket_index
from regiq_tasks.metrics.state import DURATION_RANKS, at_ranks
from regiq_tasks.metrics.summary import bucket_value
from regiq_tasks.predict.model import (
    Range,
    TypeStats,
    graph_remaining,
    planned_range,
    remaining_range,
    slow_threshold,
    start_wait,
)

TYPES = {"fetch": (1.5, 0.6), "ocr": (6.0, 0.3), "index": (0.8, 0.15),
         "report": (4.0, 0.25), "parse": (2.0, 0.2)}  # median s, log-normal sigma
LONE_TYPES = ("fetch", "parse", "index", "report")
LONE_RATE = 0.9  # lone jobs per second
BURST_EVERY, BURST_SIZE = 90.0, (15, 40)  # s between bursts (mean), jobs per burst
PIPELINE_EVERY = 15.0  # s between pipelines (mean)
HISTORY_RUNS = 2000  # earlier runs per type behind the percentiles
FRACTIONS = (0.25, 0.5, 0.75)
SAMPLES = 1500  # jobs (and pipelines) evaluated at most
MIN_RUNS = 20


@dataclass
class Job:
    id: int
    type: str
    duration: float
    created: float
    pipeline: int | None = None
    start: float = math.inf
    end: float = math.inf


@dataclass
class Pipeline:
    id: int
    stages: list[list[str]]
    jobs: list[list[Job]] = field(default_factory=list)


def draw(rng: random.Random, job_type: str) -> float:
    median, sigma = TYPES[job_type]
    return median * math.exp(rng.gauss(0.0, sigma))


def _ranks(values: Sequence[float]) -> list[int]:
    """[count, bucket of p50, p90, p95, p99, max] of values counted as the metrics do."""
    counts = [0] * BUCKETS
    for value in values:
        counts[bucket_index(value)] += 1
    return at_ranks(counts, [0] * BUCKETS, DURATION_RANKS)


def history_stats(rng: random.Random, earlier: Sequence[Job]) -> dict[str, TypeStats]:
    """Each type's duration p50/p90/p99 (HISTORY_RUNS runs) and queue-wait p50 (the
    ``earlier`` replay's) as the metric histograms answer them."""
    out = {}
    for name in TYPES:
        n, p50, p90, _p95, p99, _max = _ranks([draw(rng, name) for _ in range(HISTORY_RUNS)])
        wait = _ranks([j.start - j.created for j in earlier if j.type == name])[1]
        out[name] = TypeStats(n, bucket_value(p50), bucket_value(p90), bucket_value(p99),
                              bucket_value(wait))
    return out


class Replay:
    """The simulated queue: FIFO, ``slots`` slots, steps published as Celery would."""

    def __init__(self, rng: random.Random, slots: int) -> None:
        self.rng, self.slots = rng, slots
        self.jobs: list[Job] = []
        self.pipelines: list[Pipeline] = []
        self.events: list[tuple[float, int, str, Any]] = []
        self.queue: list[tuple[float, int]] = []
        self.free = slots

    def publish(self, at: float, job_type: str, pipeline: int | None = None) -> Job:
        job = Job(len(self.jobs), job_type, draw(self.rng, job_type), at, pipeline)
        self.jobs.append(job)
        heapq.heappush(self.queue, (at, job.id))
        return job

    def publish_stage(self, at: float, p: Pipeline) -> None:
        p.jobs.append([self.publish(at, t, p.id) for t in p.stages[len(p.jobs)]])

    def arrivals(self, seconds: float) -> None:
        rng, t = self.rng, 0.0
        while (t := t + rng.expovariate(LONE_RATE)) < seconds:
            self.push(t, "lone", rng.choice(LONE_TYPES))
        t = 0.0
        while (t := t + rng.expovariate(1 / BURST_EVERY)) < seconds:
            for i in range(rng.randint(*BURST_SIZE)):
                self.push(t + i * 0.01, "lone", rng.choice(LONE_TYPES))
        t = 0.0
        while (t := t + rng.expovariate(1 / PIPELINE_EVERY)) < seconds:
            stages = [["fetch"], ["ocr"] * rng.randint(3, 6), ["index"], ["report"]]
            self.push(t, "pipeline", stages)

    def push(self, at: float, kind: str, what: Any) -> None:
        heapq.heappush(self.events, (at, len(self.events) + len(self.jobs) * 7, kind, what))

    def run(self, seconds: float) -> None:
        self.arrivals(seconds)
        while self.events:
            at, _, kind, what = heapq.heappop(self.events)
            if kind == "lone":
                self.publish(at, what)
            elif kind == "pipeline":
                p = Pipeline(len(self.pipelines), what)
                self.pipelines.append(p)
                self.publish_stage(at, p)
            else:
                self.finish(at, what)
            self.dispatch(at)

    def finish(self, at: float, job: Job) -> None:
        self.free += 1
        if job.pipeline is None:
            return
        p = self.pipelines[job.pipeline]
        if all(j.end <= at for j in p.jobs[-1]) and len(p.jobs) < len(p.stages):
            self.publish_stage(at, p)

    def dispatch(self, at: float) -> None:
        while self.free and self.queue:
            _, job_id = heapq.heappop(self.queue)
            job = self.jobs[job_id]
            job.start, job.end = at, at + job.duration
            self.free -= 1
            self.push(job.end, "finish", job)


class Predictor:
    """What a reader would answer at time ``t``, from the replay's state then."""

    def __init__(self, replay: Replay, stats: dict[str, TypeStats]) -> None:
        self.replay, self.stats = replay, stats
        self.by_created = sorted(replay.jobs, key=lambda j: (j.created, j.id))

    def remaining(self, job: Job, t: float) -> Range:
        found = remaining_range(self.stats[job.type], t - job.start)
        assert found is not None
        return found

    def wait(self, target: Job, t: float) -> float:
        ahead = [self.stats[j.type].p50 or 0.0 for j in self.by_created
                 if (j.created, j.id) < (target.created, target.id) and j.start > t
                 and j.created <= t][:1000]
        busy = [self.remaining(j, t)[0] for j in self.replay.jobs if j.start <= t < j.end]
        return start_wait(ahead, busy, self.replay.slots)

    def step(self, job: Job | None, job_type: str, t: float) -> Range:
        s = self.stats[job_type]
        typical = (s.p50 or 0.0, s.p90 or 0.0)
        if job is None or job.created > t:
            planned = planned_range(s)
            assert planned is not None
            return planned
        if job.end <= t:
            return 0.0, 0.0
        if job.start <= t:
            return self.remaining(job, t)
        w = self.wait(job, t)
        return w + typical[0], w + typical[1]

    def pipeline(self, p: Pipeline, t: float) -> Range | None:
        steps: list[tuple[Job | None, str]] = []
        graph: list[dict[str, Any]] = []
        for i, types in enumerate(p.stages):
            stage = p.jobs[i] if i < len(p.jobs) else []
            members = []
            for k, job_type in enumerate(types):
                job = stage[k] if k < len(stage) else None
                steps.append((job, job_type))
                members.append({"kind": "task", "job": len(steps) - 1})
            graph.append(members[0] if len(members) == 1 else
                         {"kind": "group", "members": members})
        return graph_remaining({"kind": "chain", "steps": graph}, steps,
                               lambda s: self.step(s[0], s[1], t))


def start_errors(pred: Predictor, rng: random.Random) -> dict[float, list[float]]:
    waited = [j for j in pred.replay.jobs if j.start - j.created >= 1.0]
    sample = rng.sample(waited, min(SAMPLES, len(waited)))
    out: dict[float, list[float]] = {f: [] for f in FRACTIONS}
    for job in sample:
        for f in FRACTIONS:
            t = job.created + f * (job.start - job.created)
            true = job.start - t
            out[f].append(abs(pred.wait(job, t) - true) / true)
    return out


def pipeline_errors(pred: Predictor, rng: random.Random) -> tuple[dict[float, list[float]],
                                                                   dict[float, list[bool]]]:
    done = [p for p in pred.replay.pipelines
            if len(p.jobs) == len(p.stages) and all(j.end < math.inf for j in p.jobs[-1])]
    sample = rng.sample(done, min(SAMPLES, len(done)))
    errors: dict[float, list[float]] = {f: [] for f in FRACTIONS}
    inside: dict[float, list[bool]] = {f: [] for f in FRACTIONS}
    for p in sample:
        first, last = p.jobs[0][0].created, max(j.end for j in p.jobs[-1])
        for f in FRACTIONS:
            t = first + f * (last - first)
            found = pred.pipeline(p, t)
            assert found is not None
            errors[f].append(abs(found[0] - (last - t)) / (last - t))
            inside[f].append(found[0] * 0.999 <= last - t <= found[1] * 1.001 or
                             found[0] <= last - t <= found[1])
    return errors, inside


def slow_figures(rng: random.Random, stats: dict[str, TypeStats],
                 margins: Sequence[float]) -> list[dict[str, Any]]:
    rows = []
    for name in TYPES:
        normal = [draw(rng, name) for _ in range(10_000)]
        slow = [3 * draw(rng, name) for _ in range(1_000)]
        for margin in margins:
            threshold = slow_threshold(stats[name], None, MIN_RUNS, margin)
            assert threshold is not None
            rows.append({"type": name, "sigma": TYPES[name][1], "margin": margin,
                         "threshold_s": threshold,
                         "false_per_10k": sum(d > threshold for d in normal),
                         "caught": sum(d > threshold for d in slow) / len(slow)})
    return rows


def pct(values: Sequence[float]) -> str:
    return f"{100 * statistics.median(values):.1f}%" if values else "-"


def report(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    earlier = Replay(rng, args.slots)  # the queue waits the metrics kept before
    earlier.run(args.seconds)
    stats = history_stats(rng, earlier.jobs)
    replay = Replay(rng, args.slots)
    replay.run(args.seconds)
    pred = Predictor(replay, stats)
    waits = [j.start - j.created for j in replay.jobs]
    busy = sum(j.duration for j in replay.jobs) / (args.slots * max(j.end for j in replay.jobs))
    print(f"replay: {len(replay.jobs)} jobs, {len(replay.pipelines)} pipelines, "
          f"{args.slots} slots, utilisation {busy:.2f}, queue wait p50 "
          f"{statistics.median(waits):.1f} s, max {max(waits):.1f} s")
    starts = start_errors(pred, rng)
    pipes, inside = pipeline_errors(pred, rng)
    print("\n| ETA | n | 25% of the way | 50% | 75% | baseline (no ETA until progress) |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| start (queued jobs) | {len(starts[0.5])} | "
          + " | ".join(pct(starts[f]) for f in FRACTIONS) + " | 100% (no answer) |")
    print(f"| pipeline | {len(pipes[0.5])} | "
          + " | ".join(pct(pipes[f]) for f in FRACTIONS) + " | 100% (no answer) |")
    print("| truth inside eta_range_s | | "
          + " | ".join(f"{100 * sum(inside[f]) / max(1, len(inside[f])):.0f}%"
                       for f in FRACTIONS) + " | |")
    print("\n| type | sigma | margin x p99 | threshold | false per 10,000 | 3x-slow caught |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in slow_figures(rng, stats, args.margins):
        print(f"| {row['type']} | {row['sigma']} | {row['margin']:g} | "
              f"{row['threshold_s']:.2f} s | {row['false_per_10k']} | "
              f"{100 * row['caught']:.1f}% |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3600.0)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--margins", type=lambda s: [float(x) for x in s.split(",")],
                        default=[1.0, 1.25, 1.5])
    report(parser.parse_args())


if __name__ == "__main__":
    main()
