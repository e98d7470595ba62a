"""Archiver throughput (jobs/s) from the Redis live store into SQLite and PostgreSQL.

Usage:
    python benchmarks/bench_archiver.py [--jobs 20000] [--runs 3] [--batch-size 1000]
        [--no-postgres] [--postgres-server URL] [--stages] [--json PATH | --no-json]

Under a key prefix of its own, the script writes ``--jobs`` finished jobs through the
store's own write path (``LiveStore.apply_many`` of queued, running and succeeded/failed
``Change`` objects, pipelined), which also queues each job on the archive stream. Each
run then times ``Archiver(store, engine, live_ttl, batch_size).drain()`` (stream read,
record reads, one upsert transaction per batch, ack + delete + expiry) into an empty,
migrated history: a fresh SQLite file, and a scratch PostgreSQL database created for the
run and dropped at the end. Between runs the same jobs are queued again on the archive
stream (one XADD per job, as ``apply.lua`` does), untimed. The history row count is
checked after every run. ``--stages`` adds one pass into PostgreSQL through the drain's
steps one after the other, printing the wall time and CPU per row of each.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

TARGET_SQLITE = 5000.0
LIVE_TTL = 3600.0
WRITE_CHUNK = 500  # changes per pipelined apply_many


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=20_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=1000, help="archiver batch (1000)")
    p.add_argument("--redis-url", default=common.DEFAULT_REDIS_URL)
    p.add_argument("--postgres-server", default=common.DEFAULT_POSTGRES_SERVER)
    p.add_argument("--no-postgres", action="store_true")
    p.add_argument("--no-sqlite", action="store_true")
    p.add_argument("--stages", action="store_true",
                   help="after the runs, one more pass into PostgreSQL through the drain's "
                        "steps one after the other, printing wall and CPU per row of each")
    p.add_argument("--json", default=None)
    p.add_argument("--no-json", action="store_true")
    args = p.parse_args()
    if args.jobs < 1 or args.runs < 1 or args.batch_size < 1:
        p.error("--jobs, --runs and --batch-size must be >= 1")
    return args


def job_changes(i: int, base: float, rng: random.Random) -> list[Any]:
    """queued -> running -> succeeded (every 10th failed) for one realistic job."""
    from regiq_tasks.store import Change, index_member

    job_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    created = base + i * 0.001
    started = created + 0.01
    finished = started + 0.5 + (i % 7) * 0.1
    job_type = ("ingest", "report", "index")[i % 3]
    identity = {"id": job_id, "name": f"pipeline.{job_type}", "created_at": created,
                "_ix": index_member(created, job_id), "pipeline_id": f"pipe-{i // 10}",
                "root_id": None, "parent_id": None, "group_id": None,
                "type": job_type, "alert_severity": "HIGH", "expected_duration": None}
    queued = Change(job_id, "queued", fill={
        **identity, "queue": "celery", "args_preview": f"(['doc-{i}', 'doc-{i + 1}'],)",
        "retries": 0})
    running = Change(job_id, "running", fill=identity, set={
        "started_at": started, "worker": f"celery@host{i % 4}", "retries": 0,
        "queue_wait_s": round(started - created, 6)})
    failed = i % 10 == 0
    error = {"type": "ValueError", "message": f"bad document doc-{i}",
             "traceback": "Traceback (most recent call last):\n  ...\nValueError\n"} \
        if failed else None
    done = Change(job_id, "failed" if failed else "succeeded", set={
        "progress_current": 10, "progress_total": 10, "progress_message": f"parsed doc-{i}",
        "rate_per_s": 2.5, "eta_seconds": None if failed else 0.0,
        "resources": {"cpu_time_s": 0.42, "cpu_percent": 84.0, "peak_rss_bytes": 123456789},
        "error": error, "retries": 0, "metadata": {"tenant": "t1"},
        "finished_at": finished, "duration_s": round(finished - started, 6)})
    return [queued, running, done]


def populate(store: Any, jobs: int) -> tuple[list[str], float]:
    """Write the jobs through the store; returns their ids and changes/s."""
    rng = random.Random(12345)
    base = time.time() - 3600
    changes = [c for i in range(jobs) for c in job_changes(i, base, rng)]
    began = time.perf_counter()
    for start in range(0, len(changes), WRITE_CHUNK):
        store.apply_many(changes[start:start + WRITE_CHUNK])
    rate = len(changes) / (time.perf_counter() - began)
    return [c.job_id for c in changes[::3]], rate


def requeue(client: Any, store: Any, ids: list[str]) -> None:
    """Queue the jobs on the archive stream again (what apply.lua does on a final status)."""
    for start in range(0, len(ids), 1000):
        pipe = client.pipeline(transaction=False)
        for job_id in ids[start:start + 1000]:
            pipe.xadd(store.keys.archive, {"id": job_id})
        pipe.execute()


def history_count(engine: Any) -> int:
    from sqlalchemy import text

    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM job_history")).scalar_one())


def server_cpu_s() -> float:
    """CPU seconds so far of this machine's PostgreSQL processes (0 where none)."""
    import psutil

    total = 0.0
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] in ("postgres", "postmaster"):
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                continue
    return total


def stage_split(store: Any, client: Any, ids: list[str], url: str,
                batch_size: int) -> dict[str, dict[str, float]]:
    """The drain's steps for every batch, one after the other (no read-ahead): wall and
    CPU (of this process, and of PostgreSQL's server processes) per row of each step.
    A Redis step's wall time less this process's CPU is mostly Redis's own."""
    from regiq_tasks.history import make_engine
    from regiq_tasks.history.repository import row_from_record, upsert_rows
    from regiq_tasks.housekeeping.archive import Archiver, Batch
    from regiq_tasks.store.keys import ARCHIVER_GROUP

    requeue(client, store, ids)
    engine = make_engine(url)
    archiver = Archiver(store, engine, LIVE_TTL, batch_size=batch_size, consumer="stages")
    archiver.read()  # creates the group, claims nothing (the entries are new)
    totals: dict[str, list[float]] = {}

    def step(name: str, fn: Any, *args: Any) -> Any:
        """Run one step; the server's CPU is read (which costs CPU here) only around the
        database's."""
        database = name.startswith("commit")
        server = server_cpu_s() if database else 0.0
        began, cpu = time.perf_counter(), time.process_time()
        out = fn(*args)
        spent = totals.setdefault(name, [0.0, 0.0, 0.0])
        spent[0] += time.perf_counter() - began
        spent[1] += time.process_time() - cpu
        spent[2] += server_cpu_s() - server if database else 0.0
        return out

    def commit(records: list[dict[str, Any]]) -> None:
        with engine.begin() as connection:
            upsert_rows(connection, records)

    try:
        while True:
            reply = step("XREADGROUP", client.xreadgroup, ARCHIVER_GROUP, "stages",
                         {store.keys.archive: ">"}, batch_size)
            if not reply:
                break
            entries = reply[0][1]
            job_ids = [e[1][b"id"].decode() for e in entries]
            records, logs = step("archive_read.lua + records", store.archive_read, job_ids)
            step("rows alone (row_from_record)", lambda rs: [row_from_record(r) for r in rs],
                 records)
            step("commit (rows again, COPY, upsert)", commit, records)
            step("archived.lua", archiver.acknowledge,
                 Batch([e[0] for e in entries], job_ids, records, logs))
    finally:
        archiver.close()
        engine.dispose()
    return {name: {"wall_us": 1e6 * w / len(ids), "cpu_us": 1e6 * c / len(ids),
                   "server_cpu_us": 1e6 * srv / len(ids)}
            for name, (w, c, srv) in totals.items()}


def run_backend(label: str, store: Any, client: Any, ids: list[str],
                args: argparse.Namespace, fresh: Any) -> list[dict[str, Any]]:
    """``args.runs`` timed drains, each into the empty history ``fresh(i)`` returns."""
    from regiq_tasks.history import make_engine
    from regiq_tasks.housekeeping.archive import Archiver

    runs = []
    for i in range(args.runs):
        run_url = fresh(i)
        if i > 0 or client.xlen(store.keys.archive) < len(ids):
            requeue(client, store, ids)
        engine = make_engine(run_url)
        try:
            archiver = Archiver(store, engine, LIVE_TTL, batch_size=args.batch_size)
            began, cpu0, server0 = time.perf_counter(), time.process_time(), server_cpu_s()
            written = archiver.drain()
            elapsed = time.perf_counter() - began
            cpu_us = 1e6 * (time.process_time() - cpu0) / max(1, written)
            server_us = 1e6 * (server_cpu_s() - server0) / max(1, written)
            rows = history_count(engine)
        finally:
            engine.dispose()
        left = client.xlen(store.keys.archive)
        if written != len(ids) or rows != len(ids) or left:
            raise RuntimeError(f"{label} run {i}: wrote {written}, {rows} rows in history, "
                               f"{left} stream entries left (expected {len(ids)}, 0)")
        runs.append({"run": i, "rows": rows, "elapsed_s": elapsed,
                     "rows_per_s": rows / elapsed, "archiver_cpu_us_per_row": cpu_us,
                     "postgres_cpu_us_per_row": server_us})
        print(f"  {label:<10} run {i}: {rows} rows in {elapsed:.2f} s = "
              f"{rows / elapsed:,.0f} rows/s (CPU per row: archiver {cpu_us:.0f} µs, "
              f"PostgreSQL server {server_us:.0f} µs)", flush=True)
    return runs


def main() -> int:
    args = parse_args()
    info = common.header("bench_archiver")
    from regiq_tasks.history import upgrade

    prefix, store = common.live_store("archiver", args.redis_url)
    client = store.client
    tmp = Path(tempfile.mkdtemp(prefix="regiq-bench-"))
    results: dict[str, list[dict[str, Any]]] = {}
    split: dict[str, dict[str, dict[str, float]]] = {}  # --stages
    started = time.monotonic()
    try:
        ids, write_rate = populate(store, args.jobs)
        print(f"{args.jobs} finished jobs written through LiveStore.apply_many "
              f"({write_rate:,.0f} changes/s, 3 changes per job); archive stream "
              f"{client.xlen(store.keys.archive)} entries; prefix {prefix}")
        if not args.no_sqlite:
            def fresh_sqlite(i: int) -> str:
                url = f"sqlite:///{tmp / f'history-{i}.db'}"
                upgrade(url)
                return url
            results["sqlite"] = run_backend("SQLite", store, client, ids, args,
                                            fresh_sqlite)
        if not args.no_postgres:
            with contextlib.ExitStack() as databases:
                def fresh_pg(i: int) -> str:
                    url = databases.enter_context(common.scratch_postgres(args.postgres_server))
                    upgrade(url)
                    return url
                results["postgresql"] = run_backend("PostgreSQL", store, client, ids, args,
                                                    fresh_pg)
                if args.stages:
                    stages = stage_split(store, client, ids, fresh_pg(args.runs),
                                         args.batch_size)
                    print("\nthe drain's steps one after the other, per row (µs): wall / "
                          "this process's CPU / PostgreSQL server CPU")
                    print(common.table(["step", "wall", "CPU", "server"], [
                        [name, f"{v['wall_us']:.1f}", f"{v['cpu_us']:.1f}",
                         f"{v['server_cpu_us']:.1f}"] for name, v in stages.items()]))
                    split["postgresql"] = stages
    finally:
        deleted = common.delete_prefix(args.redis_url, prefix)
        client.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(f"archiver drain, {args.jobs} jobs, batch {args.batch_size}, "
          f"{args.runs} runs each (rows/s)")
    rows = []
    summary: dict[str, Any] = {"store_write_changes_per_s": write_rate}
    for name, runs in results.items():
        rates = [r["rows_per_s"] for r in runs]
        med = common.median(rates)
        summary[name] = {"median_rows_per_s": med, "runs_rows_per_s": rates}
        target = ""
        if name == "sqlite":
            target = f">= {TARGET_SQLITE:,.0f}: " + ("met" if med >= TARGET_SQLITE else "NOT met")
        rows.append([name, f"{med:,.0f}", f"{min(rates):,.0f}", f"{max(rates):,.0f}",
                     target or "(no target)"])
    print(common.table(["database", "median", "min", "max", "target"], rows))
    print(f"total run time {time.monotonic() - started:.0f} s; deleted {deleted} Redis keys "
          f"under {prefix}")
    result = {"benchmark": "archiver", "date": common.now_iso(), "machine": info,
              "args": vars(args), "summary": summary, "runs": results,
              "stages": split}
    if not args.no_json:
        print(f"JSON: {common.write_json('archiver', result, args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
