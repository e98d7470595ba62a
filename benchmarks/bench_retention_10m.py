"""History retention deleting 1M old rows of a 10M-row PostgreSQL history while the
archiver runs: how long the archiver's commits wait, and retention's rows/s.

Usage:
    python benchmarks/bench_retention_10m.py [--history-rows 10000000] [--old-rows 1000000]
        [--rate 1000] [--baseline-s 20] [--batch 1000] [--database URL]
        [--postgres-server URL] [--redis-url URL] [--json PATH | --no-json]

The history is the one ``bench_api.py`` measures (its COPY generator, reused): a scratch
database filled with ``--history-rows`` rows, or ``--database`` (filled unless it holds
them already, and left as found: the archived rows are deleted and the deleted old rows
COPYed back, then ``VACUUM ANALYZE``). The retention cutoff is the creation time of row
``--old-rows``: the rows created before it are the ones retention deletes.

Under a key prefix of its own, a producer thread writes ``--rate`` finished jobs a second
through the live store's write path (``LiveStore.apply_many`` of the queued, running and
final ``Change`` objects of ``bench_archiver.py``), and an archiver thread runs the
``Archiver`` loop (``read`` blocking 200 ms, ``commit``, ``acknowledge``), timing every
``commit`` (the one upsert transaction of a batch: what waits if retention holds a lock
the archiver needs). Phase 1, ``--baseline-s`` seconds: the archiver alone. Phase 2:
retention in a process of its own (as in another worker's housekeeper) deletes the old
rows with ``delete_before`` one ``--batch`` transaction at a time, back to back (the duty
pauses 30 s after each 2 s pass; the pauses are left out so the deletion rate is
measured), until none is left; the archiver goes on. Reported per phase: archiver
commits, rows, commit p50/p99/max; retention rows/s and its longest batch.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from bench_api import history_database, load_history, percentile
from bench_archiver import job_changes

TARGET_WAIT_S = 1.0  # the archiver never waits longer than this on retention
LIVE_TTL = 3600.0
TICK = 0.1  # s between two writes of the producer


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--history-rows", type=int, default=10_000_000)
    p.add_argument("--old-rows", type=int, default=1_000_000,
                   help="rows created before the retention cutoff")
    p.add_argument("--rate", type=int, default=1000, help="finished jobs written a second")
    p.add_argument("--baseline-s", type=float, default=20.0,
                   help="seconds the archiver runs alone first")
    p.add_argument("--batch", type=int, default=1000, help="rows per retention transaction")
    p.add_argument("--database", default=None,
                   help="PostgreSQL history to use (and restore) instead of a scratch one")
    p.add_argument("--redis-url", default=common.DEFAULT_REDIS_URL)
    p.add_argument("--postgres-server", default=common.DEFAULT_POSTGRES_SERVER)
    p.add_argument("--json", default=None)
    p.add_argument("--no-json", action="store_true")
    args = p.parse_args()
    if not 0 < args.old_rows < args.history_rows:
        p.error("--old-rows must be between 0 and --history-rows")
    return args


# -- the retention process -------------------------------------------------------------
def run_retention(url: str, cutoff: datetime, batch: int, out: Any) -> None:
    """Delete the rows created before ``cutoff``, one batch per ``delete_before`` call
    (the same statements as a pass), and send back each batch's seconds and rows."""
    from regiq_tasks.history import make_engine
    from regiq_tasks.history.retention import delete_before

    engine = make_engine(url)
    batches: list[tuple[float, int]] = []
    began = time.monotonic()  # one clock for every process of the machine
    try:
        while True:
            t0 = time.perf_counter()
            purged = delete_before(engine, cutoff, batch=batch, max_seconds=0)
            batches.append((time.perf_counter() - t0, purged.deleted))
            if purged.done:
                break
    finally:
        engine.dispose()
        out.put((began, time.monotonic(), batches))


# -- the archiver and its producer -----------------------------------------------------
class Load:
    """A producer of finished jobs and an archiver, each a thread, until ``stop``."""

    def __init__(self, store: Any, engine: Any, rate: int) -> None:
        from regiq_tasks.housekeeping.archive import Archiver

        self.store, self.rate = store, rate
        self.archiver = Archiver(store, engine, LIVE_TTL)
        self.commits: list[tuple[float, float, int]] = []  # (monotonic end, seconds, rows)
        self.written = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._guard(f), daemon=True)
                         for f in (self._produce, self._archive)]

    def _guard(self, body: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                body()
            except BaseException as exc:  # reported by stop(), never lost with the thread
                self.errors.append(exc)
                self._stop.set()
        return run

    def _produce(self) -> None:
        rng, base, per_tick = random.Random(7), time.time(), max(1, round(self.rate * TICK))
        began = time.monotonic()
        while not self._stop.is_set():
            changes = [c for i in range(self.written, self.written + per_tick)
                       for c in job_changes(i, base, rng)]
            self.store.apply_many(changes)
            self.written += per_tick
            self._stop.wait(max(0.0, began + self.written / self.rate - time.monotonic()))

    def _archive(self) -> None:
        while not self._stop.is_set():
            batch = self.archiver.read(block_ms=200)
            t0 = time.perf_counter()
            rows = self.archiver.commit(batch)
            seconds = time.perf_counter() - t0
            self.archiver.acknowledge(batch)
            if rows:
                self.commits.append((time.monotonic(), seconds, rows))

    def hold(self, seconds: float) -> None:
        """Let the load run ``seconds`` (less if a thread fails)."""
        self._stop.wait(seconds)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        if self.errors:
            raise RuntimeError("the producer or the archiver failed") from self.errors[0]


def commit_figures(load: Load, phase: str, start: float, end: float) -> dict[str, Any]:
    """The archiver's commits that ran between ``start`` and ``end`` (monotonic)."""
    seconds = end - start
    inside = [(s, n) for at, s, n in load.commits if at >= start and at - s < end]
    times, rows = [s for s, _ in inside], sum(n for _, n in inside)
    return {"phase": phase, "seconds": seconds, "commits": len(times), "rows": rows,
            "rows_per_s": rows / seconds, "rows_per_commit": rows / max(1, len(times)),
            "commit_p50_ms": 1000 * percentile(times, 0.5),
            "commit_p99_ms": 1000 * percentile(times, 0.99),
            "commit_max_ms": 1000 * max(times)}


# -- the database ----------------------------------------------------------------------
@contextmanager
def disposing(engine: Any) -> Iterator[Any]:
    """``engine``, disposed of at the end."""
    try:
        yield engine
    finally:
        engine.dispose()


def cutoff_of(engine: Any, old_rows: int) -> datetime:
    """The creation time of the row ``old_rows`` from the oldest: the cutoff."""
    from sqlalchemy import text

    with engine.connect() as conn:
        return conn.execute(text("SELECT created_at FROM job_history ORDER BY created_at, id "
                                 "OFFSET :n LIMIT 1"), {"n": old_rows}).scalar_one()


def restore(url: str, engine: Any, args: argparse.Namespace, base: float,
            cutoff: datetime, since: datetime) -> None:
    """Put a kept database back as it was: archived rows out, old rows back, vacuumed."""
    from sqlalchemy import text

    from regiq_tasks.history.retention import delete_before

    with engine.begin() as conn:
        conn.execute(text("DELETE FROM job_history WHERE created_at >= :since"),
                     {"since": since})
    delete_before(engine, cutoff, batch=100_000, max_seconds=float("inf"))  # if cut short
    load_history(url, args.old_rows, base)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE job_history")


def measure(args: argparse.Namespace, url: str, engine: Any, store: Any,
            cutoff: datetime) -> dict[str, Any]:
    """Both phases on ``url``; the figures."""
    spawn = multiprocessing.get_context("spawn")
    out: Any = spawn.Queue()
    with Load(store, engine, args.rate) as load:
        began = time.monotonic()
        load.hold(args.baseline_s)
        process = spawn.Process(target=run_retention, args=(url, cutoff, args.batch, out))
        process.start()
        first, last, batches = out.get(timeout=3600)
        process.join(60)
    phases = [commit_figures(load, "baseline", began, first),
              commit_figures(load, "retention", first, last)]
    deleted, seconds = sum(n for _, n in batches), [s for s, _ in batches]
    tenth = max(1, len(seconds) // 10)
    return {"cutoff": cutoff.isoformat(), "phases": phases, "produced_jobs": load.written,
            "produced_per_s": load.written / (time.monotonic() - began),
            "retention": {"deleted": deleted, "batches": len(batches),
                          "seconds": last - first, "rows_per_s": deleted / (last - first),
                          "batch_p50_ms": 1000 * percentile(seconds, 0.5),
                          "first_tenth_p50_ms": 1000 * percentile(seconds[:tenth], 0.5),
                          "last_tenth_p50_ms": 1000 * percentile(seconds[-tenth:], 0.5),
                          "batch_max_ms": 1000 * max(seconds), "batch_seconds": seconds}}


def main() -> int:
    args = parse_args()
    info = common.header("bench_retention_10m")
    from regiq_tasks.history import make_engine

    prefix, store = common.live_store("retention", args.redis_url)
    started = time.monotonic()
    try:
        with ExitStack() as stack:
            url, base, fill = history_database(args.database, args.history_rows,
                                               time.time() - 86_400, stack,
                                               args.postgres_server)
            print(f"{args.history_rows:,} history rows " + (
                f"COPYed ({fill:,.0f} rows/s)" if fill else "already there"), flush=True)
            engine = stack.enter_context(disposing(make_engine(url)))
            cutoff = cutoff_of(engine, args.old_rows)
            print(f"cutoff {cutoff.isoformat()}: {args.old_rows:,} rows before it", flush=True)
            since = datetime.now(UTC)
            try:
                result = measure(args, url, engine, store, cutoff)
            finally:
                if args.database:
                    restore(url, engine, args, base, cutoff, since)
    finally:
        deleted_keys = common.delete_prefix(args.redis_url, prefix)
        store.client.close()
    phases, retention = result["phases"], result["retention"]
    print()
    print(common.table(
        ["archiver phase", "s", "commits", "rows", "rows/s", "rows/commit", "commit p50 ms",
         "p99 ms", "max ms"],
        [[p["phase"], f"{p['seconds']:.0f}", p["commits"], p["rows"], f"{p['rows_per_s']:.0f}",
          f"{p['rows_per_commit']:.0f}", f"{p['commit_p50_ms']:.1f}",
          f"{p['commit_p99_ms']:.1f}", f"{p['commit_max_ms']:.1f}"] for p in phases]))
    worst = phases[1]["commit_max_ms"] / 1000
    print(f"retention: {retention['deleted']:,} rows in {retention['batches']} batches of "
          f"{args.batch}, {retention['seconds']:.1f} s = {retention['rows_per_s']:,.0f} rows/s; "
          f"batch p50 {retention['batch_p50_ms']:.1f} ms (first tenth "
          f"{retention['first_tenth_p50_ms']:.1f}, last {retention['last_tenth_p50_ms']:.1f}), "
          f"max {retention['batch_max_ms']:.1f} ms")
    print(f"producer: {result['produced_jobs']:,} finished jobs, {result['produced_per_s']:.0f}/s "
          f"(asked {args.rate}/s)")
    print(f"longest archiver commit during retention {worst * 1000:.0f} ms (target <= "
          f"{TARGET_WAIT_S:.0f} s: {'met' if worst <= TARGET_WAIT_S else 'NOT met'})")
    print(f"total run time {time.monotonic() - started:.0f} s; deleted {deleted_keys} Redis "
          f"keys under {prefix}")
    if not args.no_json:
        out = {"benchmark": "retention_10m", "date": common.now_iso(), "machine": info,
               "args": vars(args), **result}
        print(f"JSON: {common.write_json('retention_10m', out, args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
