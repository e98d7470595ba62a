"""Measure history upsert throughput (rows/s) on SQLite and PostgreSQL.

Usage:
    python benchmarks/bench_history_upsert.py [--batches 10] [--batch-size 1000]
        [--sqlite-path PATH] [--postgres-server URL | --no-postgres]

For each database it migrates an empty schema, then times ``upsert_jobs`` over
``--batches`` batches of fresh records (the insert path) and again over the same records
(the conflict/update path, as when the archiver re-delivers). PostgreSQL runs in a
temporary database created on ``--postgres-server`` and dropped afterwards.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

from regiq_tasks.history import make_engine, upgrade, upsert_jobs
from regiq_tasks.store.record import iso

DEFAULT_POSTGRES_SERVER = common.DEFAULT_POSTGRES_SERVER


def make_records(count: int, start: int = 0) -> list[dict[str, Any]]:
    """``count`` realistic finished job records (full DESIGN shape)."""
    base = datetime(2026, 11, 28, 13, tzinfo=UTC).timestamp()
    return [{
        "id": f"{i:08d}-5c1f-4a5e-9d3b-{secrets.token_hex(6)}", "name": "pipeline.ingest",
        "type": ("ingest", "report", "index")[i % 3],
        "status": "failed" if i % 10 == 0 else "succeeded",
        "progress": {"current": 10, "total": 10, "percent": 100.0, "message": f"parsed d{i}"},
        "eta_seconds": None, "rate_per_s": 2.5, "created_at": iso(base + i * 0.001),
        "started_at": iso(base + i * 0.001 + 0.01), "finished_at": iso(base + i * 0.001 + 4.2),
        "queue_wait_s": 0.01, "duration_s": 4.19, "worker": f"celery@host{i % 4}",
        "queue": "celery", "retries": 0, "pipeline_id": f"pipe-{i // 10}", "root_id": None,
        "parent_id": None, "group_id": None,
        "error": {"type": "ValueError", "message": "bad", "traceback": "Traceback ...\n" * 5}
        if i % 10 == 0 else None,
        "cancel": None,
        "resources": {"cpu_time_s": 1.2, "cpu_percent": 85.0, "peak_rss_bytes": 123456789},
        "args_preview": f"(['doc-{i}', 'doc-{i + 1}'],)", "metadata": {"tenant": "t1"},
    } for i in range(start, start + count)]


def measure(url: str, batches: int, batch_size: int) -> tuple[float, float]:
    """Rows/s of fresh upserts and of re-upserts of the same rows, batch by batch."""
    upgrade(url)
    engine = make_engine(url)
    data = [make_records(batch_size, b * batch_size) for b in range(batches)]
    try:
        rates = []
        for _ in ("insert", "update"):
            began = time.perf_counter()
            written = sum(upsert_jobs(engine, batch) for batch in data)
            rates.append(written / (time.perf_counter() - began))
    finally:
        engine.dispose()
    return rates[0], rates[1]


def report(label: str, rates: tuple[float, float], batches: int, batch_size: int) -> None:
    """Print one result line."""
    print(f"{label:<11} {batches} x {batch_size} rows: insert {rates[0]:>8,.0f} rows/s, "
          f"re-upsert (update) {rates[1]:>8,.0f} rows/s")


def main() -> None:
    """Run the benchmark on SQLite, then on PostgreSQL unless told not to."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--sqlite-path", type=Path, default=None)
    parser.add_argument("--postgres-server", default=DEFAULT_POSTGRES_SERVER)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = args.sqlite_path or Path(folder) / "bench-history.db"
        rates = measure(f"sqlite:///{path}", args.batches, args.batch_size)
        report("SQLite", rates, args.batches, args.batch_size)
    if not args.no_postgres:
        with common.scratch_postgres(args.postgres_server) as url:
            rates = measure(url, args.batches, args.batch_size)
            report("PostgreSQL", rates, args.batches, args.batch_size)


if __name__ == "__main__":
    main()
