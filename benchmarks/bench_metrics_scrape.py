"""Latency of ``GET /metrics`` (the Prometheus scrape) with many job types.

Usage:
    python benchmarks/bench_metrics_scrape.py [--types 50] [--queues 10] [--queued 40]
        [--running 10] [--finished 200] [--requests 300] [--json PATH | --no-json]

Writes, under a key prefix of its own, per job type ``--queued`` queued, ``--running``
running and ``--finished`` succeeded jobs through the store's write path
(``LiveStore.apply_many``), the types spread over ``--queues`` queues that the app routes
to (so every scrape reads that many broker queues: LLEN of each queue and its priority
sub-lists), a migrated SQLite history for ``regiq_alerts_open``, then times
``GET /metrics`` on the monitor served by Werkzeug's threaded server on 127.0.0.1 (what
``regiq monitor`` runs): server side (Flask ``before_request`` to ``after_request``: auth,
the Redis reads, the SQL count, rendering) and by a ``requests`` client through HTTP.
Redis keys are deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_api
import common

TARGET_P95_MS = 50.0


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--redis-url", default=common.DEFAULT_REDIS_URL)
    p.add_argument("--types", type=int, default=50)
    p.add_argument("--queues", type=int, default=10)
    p.add_argument("--queued", type=int, default=40)
    p.add_argument("--running", type=int, default=10)
    p.add_argument("--finished", type=int, default=200)
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--json", default=None)
    p.add_argument("--no-json", action="store_true")
    return p.parse_args()


def load(store: Any, args: argparse.Namespace, queue_prefix: str) -> int:
    """Write the jobs of every type; returns how many."""
    from regiq_tasks.store import Change, index_member

    now, written = time.time(), 0
    plan = [("queued", args.queued), ("running", args.running), ("succeeded", args.finished)]
    for t in range(args.types):
        changes = []
        for status, count in plan:
            for _ in range(count):
                job_id, created = str(uuid.uuid4()), now - 60 + written * 1e-4
                fill = {"id": job_id, "name": f"pipeline.t{t}", "type": f"t{t}",
                        "queue": f"{queue_prefix}{t % args.queues}", "created_at": created,
                        "_ix": index_member(created, job_id)}
                changes.append(Change(job_id, status, fill=fill, event=False))
                written += 1
        store.apply_many(changes)
    return written


def scrape_times(url: str, server_ms: list[float], n: int) -> dict[str, Any]:
    """``n`` timed scrapes after 20 warm-up ones: p50/p95 on the server and over HTTP."""
    import requests

    session = requests.Session()
    headers = {"Authorization": f"Bearer {bench_api.TOKEN}"}
    for _ in range(20):
        session.get(f"{url}/metrics", headers=headers, timeout=30).raise_for_status()
    del server_ms[:]
    client: list[float] = []
    for _ in range(n):
        t0 = time.perf_counter()
        response = session.get(f"{url}/metrics", headers=headers, timeout=30)
        client.append((time.perf_counter() - t0) * 1000)
        response.raise_for_status()
    server = list(server_ms[-n:])
    lines = [ln for ln in response.text.splitlines() if ln and not ln.startswith("#")]
    pct = bench_api.percentile
    return {"series": len(lines), "bytes": len(response.content),
            "server_p50_ms": pct(server, 0.5), "server_p95_ms": pct(server, 0.95),
            "http_p50_ms": pct(client, 0.5), "http_p95_ms": pct(client, 0.95)}


def main() -> int:
    args = parse_args()
    from regiq_tasks.history.db import upgrade
    from regiq_tasks.tracking.tracker import get_tracker

    prefix = common.unique_prefix("metrics", common.run_id())
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{tmp}/history.db"
        upgrade(database_url)
        app = bench_api.bench_app(prefix, args.redis_url, database_url)
        queue_prefix = f"{prefix}q"
        app.conf.task_routes = ({f"pipeline.t{t}": {"queue": f"{queue_prefix}{t % args.queues}"}
                                 for t in range(args.types)},)
        try:
            jobs = load(get_tracker(app).store, args, queue_prefix)
            with bench_api.served(app) as (url, server_ms):
                result = scrape_times(url, server_ms, args.requests)
        finally:
            common.delete_prefix(args.redis_url, prefix)
    result.update(types=args.types, queues=args.queues, jobs=jobs,
                  target_p95_ms=TARGET_P95_MS, machine=common.machine())
    print(f"GET /metrics, {args.types} types, {args.queues} queues, {jobs} live jobs, "
          f"{result['series']} series, {result['bytes']} bytes: server p50 "
          f"{result['server_p50_ms']:.2f} p95 {result['server_p95_ms']:.2f} ms; HTTP p50 "
          f"{result['http_p50_ms']:.2f} p95 {result['http_p95_ms']:.2f} ms "
          f"(target p95 <= {TARGET_P95_MS} ms)")
    if not args.no_json:
        path = Path(args.json or common.RESULTS_DIR / "metrics_scrape.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
