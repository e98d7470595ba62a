"""Monitor memory after many jobs: RSS of a monitor process after 10k and after 1M jobs.

Usage:
    python benchmarks/bench_monitor_memory.py [--jobs 1000000] [--clients 5]

A ``regiq monitor`` subprocess (as ``bench_live.py`` starts it) with its relay and
``--clients`` Socket.IO clients, each subscribed to one job type's room (of 20); this
process writes jobs through ``LiveStore.apply_many`` (each job published and then
succeeded: two changes),
2,000 changes per round trip, and runs the workers' housekeeping (archiver into SQLite,
expiry with ``REGIQ_LIVE_TTL`` 5 s) so that the live store stays bounded as in a real
deployment. Every 10,000 jobs it reads the live list, a history page and the realtime
metrics over REST and samples the monitor's RSS. Reported: RSS after the first 10,000
jobs, at the end, the growth (issue 15: within +20 MB), and that the clients received
final statuses throughout.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import psutil
import requests
import socketio
from bench_live import TOKEN, start_monitor
from celery import Celery

from regiq_tasks import install
from regiq_tasks.history.db import upgrade
from regiq_tasks.housekeeping.keeper import start_housekeeper, stop_housekeeper
from regiq_tasks.store import Change
from regiq_tasks.tracking.tracker import get_tracker
from regiq_tasks.tracking.transitions import identity

TARGET_GROWTH_MB = 20.0
CHECK_EVERY = 10_000


class Counter:
    """Final statuses received by the clients (all of them together)."""

    def __init__(self) -> None:
        self.finals = 0
        self.lock = threading.Lock()

    def got(self, records: Any) -> None:
        items = records if isinstance(records, list) else [records]
        with self.lock:
            self.finals += sum(1 for r in items if r.get("status") == "succeeded")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--redis-url", default=common.DEFAULT_REDIS_URL)
    args = parser.parse_args()
    info = common.header("bench_monitor_memory")
    rid = common.run_id()
    prefix = common.unique_prefix("memory", rid)
    workdir = Path(tempfile.mkdtemp(prefix="regiq-bench-memory-"))
    database_url = f"sqlite:///{workdir / 'history.db'}"
    upgrade(database_url)
    env = {"REGIQ_REDIS_URL": args.redis_url, "REGIQ_KEY_PREFIX": prefix,
           "REGIQ_DATABASE_URL": database_url, "REGIQ_API_TOKENS": f"viewer:{TOKEN}",
           "REGIQ_LIVE_TTL": "5"}
    app = Celery("bench-memory", broker=args.redis_url, set_as_current=False)
    install(app, key_prefix=prefix, redis_url=args.redis_url, database_url=database_url,
            live_ttl=5)
    store = get_tracker(app).store
    proc, url = start_monitor(env, workdir / "monitor.log")
    monitor = psutil.Process(proc.pid)
    counter = Counter()
    clients: list[Any] = []
    samples: list[tuple[int, float]] = []
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        for _ in range(args.clients):
            sio = socketio.Client(reconnection=False)
            sio.on("job_update", counter.got)
            sio.on("job_updates", counter.got)
            sio.connect(url, auth={"token": TOKEN}, transports=["websocket"], wait_timeout=30)
            # a type room each (jobs cycle over 20 types): every event passes the relay,
            # a quarter reach a client, few enough for thread clients to keep up with
            sio.call("subscribe", {"type": f"type{len(clients)}"}, timeout=30)
            clients.append(sio)
        start_housekeeper(app)
        began = time.monotonic()
        written = 0
        while written < args.jobs:
            now = time.time()
            changes = []
            for n in range(written, min(args.jobs, written + 1000)):
                job_id = f"mem-{rid}-{n}"
                changes.append(Change(job_id, "queued", fill={
                    **identity(job_id, "bench.memory", now, {"pipeline_id": job_id,
                                                           "root_id": job_id}),
                    "type": f"type{n % 20}", "queue": "bench"}))
                changes.append(Change(job_id, "succeeded", set={
                    "started_at": now, "finished_at": now + 0.01, "worker": "w@bench"}))
            store.apply_many(changes)
            written += len(changes) // 2
            if written % CHECK_EVERY == 0:
                for path in ("/status/jobs?limit=50", "/status/jobs/history?limit=50",
                             "/status/metrics/realtime"):
                    requests.get(url + path, headers=headers, timeout=30).raise_for_status()
                samples.append((written, monitor.memory_info().rss / 2**20))
                if written % 100_000 == 0:
                    print(f"  {written:>9,} jobs in {time.monotonic() - began:6.0f} s: monitor "
                          f"RSS {samples[-1][1]:.1f} MB, finals received {counter.finals:,}",
                          flush=True)
    finally:
        stop_housekeeper(app)
        for sio in clients:
            sio.disconnect()
        proc.terminate()
        proc.wait(15)
        common.delete_prefix(args.redis_url, prefix)
    first = next(mb for n, mb in samples if n >= 10_000)
    last = samples[-1][1]
    peak = max(mb for _, mb in samples)
    growth = last - first
    print(common.table(["jobs", "RSS after 10k MB", "RSS at the end MB", "peak MB",
                        "growth MB", f"target <= +{TARGET_GROWTH_MB:.0f} MB",
                        "finals received"],
                       [[f"{written:,}", f"{first:.1f}", f"{last:.1f}", f"{peak:.1f}",
                         f"{growth:+.1f}", "met" if growth <= TARGET_GROWTH_MB else "NOT met",
                         f"{counter.finals:,}"]]))
    common.write_json("monitor_memory", {"machine": info, "args": vars(args),
                                         "samples": samples, "growth_mb": growth}, None)


if __name__ == "__main__":
    main()
