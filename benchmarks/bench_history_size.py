"""How big the history grows: bytes per archived job on SQLite and PostgreSQL, indexes
included, and how long one retention batch takes.

Usage:
    python benchmarks/bench_history_size.py [--rows 100000] [--no-postgres]
        [--postgres-server URL]

Loads ``--rows`` records of ``bench_history_upsert.make_records`` (the full DESIGN
shape; 10% failed with a short traceback, ``args_preview`` and ``metadata`` small) through
``upsert_jobs`` into a migrated, empty history, then reports the table's size with its
indexes divided by the rows: SQLite, the database file after ``VACUUM``; PostgreSQL,
``pg_total_relation_size('job_history')`` after ``VACUUM ANALYZE`` (a scratch database,
dropped at the end). Then it times ``delete_before`` deleting the oldest 10% in batches
of 1,000 and prints the slowest batch (each batch is one transaction).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from bench_history_upsert import make_records
from sqlalchemy import Engine, text

from regiq_tasks.history import make_engine, upgrade, upsert_jobs
from regiq_tasks.history.repository import from_epoch
from regiq_tasks.history.retention import delete_before


def load(engine: Engine, rows: int) -> None:
    for start in range(0, rows, 10_000):
        upsert_jobs(engine, make_records(min(10_000, rows - start), start))


def size_bytes(engine: Engine, sqlite_path: Path | None) -> int:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if sqlite_path is not None:
            connection.exec_driver_sql("VACUUM")
            return sqlite_path.stat().st_size
        connection.exec_driver_sql("VACUUM ANALYZE job_history")
        return int(connection.execute(
            text("SELECT pg_total_relation_size('job_history')")).scalar_one())


def slowest_batch_ms(engine: Engine, rows: int) -> float:
    """Delete the oldest 10% (created 1 ms apart from 2026-11-28 13:00 UTC) batch by batch."""
    cutoff = from_epoch(1_795_870_800 + rows * 0.1 * 0.001)
    slowest = 0.0
    while True:
        began = time.perf_counter()
        done = delete_before(engine, cutoff, max_seconds=0)
        slowest = max(slowest, (time.perf_counter() - began) * 1000)
        if done.done:
            return slowest


def measure(label: str, url: str, rows: int, sqlite_path: Path | None = None) -> None:
    upgrade(url)
    engine = make_engine(url)
    try:
        load(engine, rows)
        size = size_bytes(engine, sqlite_path)
        slowest = slowest_batch_ms(engine, rows)
    finally:
        engine.dispose()
    print(f"{label:<11} {rows:,} rows: {size / 2**20:8.1f} MiB, {size / rows:6.0f} bytes/row "
          f"(indexes included); retention: slowest 1,000-row batch {slowest:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--postgres-server", default=common.DEFAULT_POSTGRES_SERVER)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "history.db"
        measure("SQLite", f"sqlite:///{path}", args.rows, path)
    if not args.no_postgres:
        with common.scratch_postgres(args.postgres_server) as url:
            measure("PostgreSQL", url, args.rows)


if __name__ == "__main__":
    main()
