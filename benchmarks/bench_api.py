"""Latency of the monitor's listing endpoints: live (Redis) and history (SQLite, PostgreSQL).

Usage:
    python benchmarks/bench_api.py [--live-jobs 100000] [--history-rows 1000000]
        [--requests 200] [--no-postgres] [--no-sqlite] [--postgres-server URL]
        [--database URL] [--explain] [--json PATH | --no-json]

Live: ``--live-jobs`` jobs are written under a key prefix of their own through the
store's write path (``LiveStore.apply_many`` of one ``Change`` per job; 80% finished,
10% running, 10% queued), then ``GET /status/jobs?limit=50`` is timed on the first page,
on a deep page (cursor 90% down) and filtered by status. History: ``--history-rows`` rows
are bulk-loaded into a migrated ``job_history`` (SQLite: executemany of pre-encoded rows;
PostgreSQL: COPY, in a scratch database, or in ``--database`` unless it already holds
them), 10 job types (and task names) and 10% failed, then
``GET /status/jobs/history?limit=50`` is timed with each filter that has an index (none,
status, type, worker, pipeline_id, name, type+status, id prefix) and ``name`` + status
(no index of its own), first pages and deep ones (cursor 90% down that filter); then an
archived job and pipeline and the metrics endpoints over that database. ``--explain``
prints and keeps ``EXPLAIN (ANALYZE, BUFFERS)`` of each history page query.

Each request is measured twice: on the server (from Flask's ``before_request`` to its
``after_request``: auth, validation, query, serialisation) and by the client, through
real HTTP (Werkzeug's threaded server on 127.0.0.1, the server ``regiq monitor`` runs,
and a ``requests`` session). Redis keys are deleted and the databases dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

TARGET_LIVE_MS, TARGET_HISTORY_MS = 20.0, 30.0
TYPES = [f"t{i}" for i in range(10)]
TOKEN = "bench-viewer-token"
COLUMNS = ("id", "name", "type", "status", "created_at", "started_at", "finished_at",
           "queue_wait_s", "duration_s", "worker", "queue", "retries", "pipeline_id",
           "root_id", "error_type", "error_message", "cpu_time_s", "cpu_percent",
           "peak_rss_bytes", "progress_percent", "args_preview", "record", "archived_at")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--live-jobs", type=int, default=100_000)
    p.add_argument("--history-rows", type=int, default=1_000_000)
    p.add_argument("--requests", type=int, default=200, help="timed requests per case")
    p.add_argument("--redis-url", default=common.DEFAULT_REDIS_URL)
    p.add_argument("--postgres-server", default=common.DEFAULT_POSTGRES_SERVER)
    p.add_argument("--no-postgres", action="store_true")
    p.add_argument("--no-sqlite", action="store_true")
    p.add_argument("--database", default=None,
                   help="PostgreSQL history to use instead of a scratch one: filled unless "
                        "it already holds the rows, never dropped (for repeated runs)")
    p.add_argument("--explain", action="store_true",
                   help="also EXPLAIN (ANALYZE, BUFFERS) every history case on PostgreSQL")
    p.add_argument("--json", default=None)
    p.add_argument("--no-json", action="store_true")
    return p.parse_args()


def job(i: int, base: float) -> tuple[dict[str, Any], float]:
    """A realistic record of job ``i`` (newer with i) and its creation time."""
    from regiq_tasks.store.record import iso

    created = base + i * 0.001
    status = "failed" if i % 10 == 3 else "running" if i % 10 == 5 else \
        "queued" if i % 10 == 7 else "succeeded"
    final = status in ("succeeded", "failed")
    job_type = TYPES[(i // 10) % 10]
    record = {
        "id": str(uuid.UUID(int=i, version=4)), "name": f"pipeline.{job_type}", "type": job_type,
        "status": status, "progress": {"current": 10, "total": 10, "percent": 100.0,
                                       "message": f"parsed doc-{i}"},
        "eta_seconds": 0.0, "rate_per_s": 2.5, "created_at": iso(created),
        "started_at": iso(created + 0.01), "finished_at": iso(created + 0.6) if final else None,
        "queue_wait_s": 0.01, "duration_s": 0.59 if final else None,
        "worker": f"celery@host{i % 4}", "queue": "celery", "retries": 0,
        "pipeline_id": f"pipe-{i // 10}", "root_id": None, "parent_id": None, "group_id": None,
        "error": {"type": "ValueError", "message": f"bad doc-{i}", "traceback": "Traceback..."}
        if status == "failed" else None,
        "cancel": None, "resources": {"cpu_time_s": 0.42, "cpu_percent": 84.0,
                                      "peak_rss_bytes": 123456789},
        "args_preview": f"(['doc-{i}'],)", "metadata": {"tenant": "t1"},
        "alert_severity": "HIGH", "expected_duration": None}
    return record, created


# -- data ----------------------------------------------------------------------------------
def load_live(store: Any, count: int, base: float) -> float:
    """Write ``count`` live jobs, one Change each; returns jobs/s."""
    from regiq_tasks.store import Change, index_member

    began = time.perf_counter()
    for start in range(0, count, 1000):
        changes = []
        for i in range(start, min(count, start + 1000)):
            rec, created = job(i, base)
            flat = {k: v for k, v in rec.items() if k not in ("progress", "status")}
            flat.update(created_at=created, started_at=created + 0.01,
                        finished_at=created + 0.6 if rec["finished_at"] else None,
                        _ix=index_member(created, rec["id"]),
                        progress_current=10, progress_total=10,
                        progress_message=rec["progress"]["message"])
            changes.append(Change(rec["id"], rec["status"], fill=flat, event=False))
        store.apply_many(changes)
    return count / (time.perf_counter() - began)


def history_rows(count: int, base: float, start: int = 0) -> Iterator[tuple[Any, ...]]:
    """Rows ``start`` to ``count - 1`` of ``job_history`` in COLUMNS order (times as aware
    datetimes)."""
    archived = datetime.now(UTC)
    for i in range(start, count):
        rec, created = job(i, base)
        rec["status"] = "failed" if i % 10 == 3 else "succeeded"
        when = datetime.fromtimestamp(created, UTC)
        err = rec["error"] or {}
        yield (rec["id"], rec["name"], rec["type"], rec["status"], when,
               when + timedelta(seconds=0.01), when + timedelta(seconds=0.6), 0.01, 0.59,
               rec["worker"], "celery", 0, rec["pipeline_id"], None, err.get("type"),
               err.get("message"), 0.42, 84.0, 123456789, 100.0, rec["args_preview"],
               json.dumps(rec, separators=(",", ":")), archived)


def load_history(url: str, count: int, base: float, start: int = 0) -> float:
    """Bulk-load rows ``start`` to ``count - 1`` (COPY on PostgreSQL, executemany on
    SQLite), then ANALYZE; rows/s."""
    from regiq_tasks.history import JOB_HISTORY, make_engine, upgrade

    upgrade(url)
    engine = make_engine(url)
    began = time.perf_counter()
    try:
        if engine.dialect.name == "postgresql":
            raw = engine.raw_connection()
            with raw.cursor() as cur, cur.copy(  # type: ignore[attr-defined]
                    f"COPY job_history ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in history_rows(count, base, start):
                    copy.write_row(row)
            raw.commit()
            raw.close()
        else:  # SQLite: store times exactly as SQLAlchemy's own type would
            dialect = engine.dialect
            to_db = JOB_HISTORY.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
            times = {COLUMNS.index(n) for n in ("created_at", "started_at", "finished_at",
                                                "archived_at")}
            sql = (f"INSERT INTO job_history ({', '.join(COLUMNS)}) "
                   f"VALUES ({', '.join('?' * len(COLUMNS))})")
            with engine.begin() as conn:
                batch: list[tuple[Any, ...]] = []
                for row in history_rows(count, base, start):
                    batch.append(tuple(to_db(v) if k in times else v  # type: ignore[misc]
                                       for k, v in enumerate(row)))
                    if len(batch) == 20_000:
                        conn.exec_driver_sql(sql, batch)
                        batch = []
                if batch:
                    conn.exec_driver_sql(sql, batch)
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()
    return (count - start) / (time.perf_counter() - began)


def loaded_base(url: str) -> float | None:
    """The ``base`` a database was filled with (job 0's creation time), or None if empty."""
    from sqlalchemy import text

    from regiq_tasks.history import make_engine, upgrade

    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            created = conn.execute(text("SELECT created_at FROM job_history WHERE id = :id"),
                                   {"id": job(0, 0.0)[0]["id"]}).scalar_one_or_none()
    finally:
        engine.dispose()
    return None if created is None else created.timestamp()


def history_database(url: str | None, rows: int, base: float,
                     stack: ExitStack, server: str) -> tuple[str, float, float | None]:
    """A PostgreSQL history of ``rows`` rows: ``url`` as it is when it already holds them
    (its own base; never dropped), else filled (a scratch database when ``url`` is None,
    dropped at the end). Returns the URL, the base of its rows and the fill's rows/s."""
    if url is not None:
        kept = loaded_base(url)
        if kept is not None:
            return url, kept, None
    else:
        url = stack.enter_context(common.scratch_postgres(server))
    return url, base, load_history(url, rows, base)


def deep_cursor(count: int, base: float, keep: Any) -> str:
    """The cursor just after the job 90% down the newest-first list of jobs ``keep`` takes."""
    from regiq_tasks.store.filters import encode_cursor

    matching = [i for i in range(count) if keep(i)]
    i = matching[len(matching) // 10]
    rec, created = job(i, base)
    return encode_cursor(round(created * 1_000_000), rec["id"])


# -- measuring -----------------------------------------------------------------------------
@contextmanager
def served(celery_app: Any) -> Iterator[tuple[str, list[float]]]:
    """The monitor on a real threaded HTTP server; yields its URL and server-side times."""
    from flask import g
    from werkzeug.serving import make_server

    from regiq_tasks.monitor import create_app

    app = create_app({"REGIQ_CELERY_APP": celery_app, "REGIQ_API_TOKENS": f"viewer:{TOKEN}"})
    server_ms: list[float] = []

    @app.before_request
    def start() -> None:
        g.bench_t0 = time.perf_counter()

    @app.after_request
    def stop(response: Any) -> Any:
        server_ms.append((time.perf_counter() - g.bench_t0) * 1000)
        return response

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", server_ms
    finally:
        server.shutdown()
        thread.join(10)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(base_url: str, server_ms: list[float], path: str, params: dict[str, Any],
            n: int) -> dict[str, Any]:
    """``n`` timed GETs after 20 warm-up ones; p50/p95 client (HTTP) and server side."""
    import requests

    session = requests.Session()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    items = 0
    for _ in range(20):
        response = session.get(base_url + path, params=params, headers=headers, timeout=30)
        if not (path == HEALTH and response.status_code == 503):  # down: no worker runs
            response.raise_for_status()
        if response.headers.get("Content-Type", "").startswith("application/json"):
            items = len(response.json().get("items") or ())
    del server_ms[:]
    expected = response.status_code
    client: list[float] = []
    for _ in range(n):
        t0 = time.perf_counter()
        response = session.get(base_url + path, params=params, headers=headers, timeout=30)
        client.append((time.perf_counter() - t0) * 1000)
        if response.status_code != expected:
            raise RuntimeError(f"GET {path}: {response.status_code}, was {expected}")
    server = list(server_ms[-n:])
    return {"items": items, "status": expected, "bytes": len(response.content),
            "server_p50_ms": percentile(server, 0.5), "server_p95_ms": percentile(server, 0.95),
            "http_p50_ms": percentile(client, 0.5), "http_p95_ms": percentile(client, 0.95)}


def run_cases(label: str, celery_app: Any, cases: list[tuple[str, str, dict[str, Any]]],
              n: int) -> list[dict[str, Any]]:
    out = []
    with served(celery_app) as (url, server_ms):
        for name, path, params in cases:
            result = {"backend": label, "case": name, "path": path,
                      **measure(url, server_ms, path, params, n)}
            print(f"  {label:<10} {name:<30} items {result['items']:>2}  server p50 "
                  f"{result['server_p50_ms']:6.2f} p95 {result['server_p95_ms']:6.2f} ms  "
                  f"HTTP p50 {result['http_p50_ms']:6.2f} p95 {result['http_p95_ms']:6.2f} ms",
                  flush=True)
            out.append(result)
    return out


def bench_app(prefix: str, redis_url: str, database_url: str) -> Any:
    from celery import Celery

    from regiq_tasks import install

    app = Celery(f"bench-api-{prefix}", broker=redis_url, set_as_current=False)
    return install(app, key_prefix=prefix, redis_url=redis_url, database_url=database_url,
                   auto_migrate=True)


HISTORY, HEALTH = "/status/jobs/history", "/status/system/health"


def history_cases(rows: int, base: float) -> list[tuple[str, str, dict[str, Any]]]:
    """The history pages timed: every filter with an index of its own, first and deep."""
    def of_type(name: str) -> Any:
        return lambda i: TYPES[(i // 10) % 10] == name

    def failed(i: int) -> bool:
        return i % 10 == 3

    def deep(keep: Any) -> str:
        return deep_cursor(rows, base, keep)

    page = {"limit": 50}
    failed_t3 = {**page, "status": "failed", "type": "t3"}
    t7 = {**page, "name": "pipeline.t7"}
    middle = job(rows // 2, base)[0]["id"]
    return [
        ("no filter, first page", HISTORY, page),
        ("no filter, deep page", HISTORY, {**page, "cursor": deep(lambda i: True)}),
        ("status=failed, deep page", HISTORY,
         {**page, "status": "failed", "cursor": deep(failed)}),
        ("type=t3, deep page", HISTORY,
         {**page, "type": "t3", "cursor": deep(of_type("t3"))}),
        ("worker=host1, deep page", HISTORY, {**page, "worker": "celery@host1",
                                              "cursor": deep(lambda i: i % 4 == 1)}),
        ("pipeline_id (10 jobs)", HISTORY, {**page, "pipeline_id": f"pipe-{rows // 20}"}),
        ("name=pipeline.t7, first page", HISTORY, t7),
        ("name=pipeline.t7, deep page", HISTORY, {**t7, "cursor": deep(of_type("t7"))}),
        ("name=t7+failed, deep page", HISTORY, {
            **t7, "status": "failed",
            "cursor": deep(lambda i: failed(i) and of_type("t7")(i))}),
        ("failed+t3, first page", HISTORY, failed_t3),
        ("failed+t3, deep page", HISTORY,
         {**failed_t3, "cursor": deep(lambda i: failed(i) and of_type("t3")(i))}),
        ("id prefix (4,096 ids)", HISTORY, {**page, "id_prefix": middle[:-3]}),
    ]


def explain_only_cases() -> list[tuple[str, str, dict[str, Any]]]:
    """Pages worth a plan but not a timing: two filters with no index together whose
    rows never meet (host0 runs even jobs, failed ones are odd), so the page scans the
    whole of one filter's index range to find nothing."""
    return [("failed+worker=host0 (no match)", HISTORY,
             {"limit": 50, "status": "failed", "worker": "celery@host0"})]


def other_cases(base: float) -> list[tuple[str, str, dict[str, Any]]]:
    """The other reads of a monitor over that history: an archived job and pipeline, and
    the metrics endpoints (Redis aggregates: they never read ``job_history``)."""
    return [
        ("archived job by id", f"/status/jobs/{job(12_345, base)[0]['id']}", {}),
        ("archived pipeline (10 jobs)", "/status/pipelines/pipe-1234", {}),
        ("metrics/performance 1h", "/status/metrics/performance", {"window": "1h"}),
        ("metrics/performance 7d", "/status/metrics/performance", {"window": "7d"}),
        ("metrics/realtime", "/status/metrics/realtime", {}),
        ("GET /metrics (Prometheus)", "/metrics", {}),
        ("system/health", HEALTH, {}),
    ]


def plan_summary(lines: list[str]) -> dict[str, Any]:
    """The indexes a plan scans, its execution time and its buffers (first line)."""
    import re

    indexes = [m.group(2) for line in lines
               for m in [re.search(r"(Index Scan|Index Only Scan|Bitmap Index Scan)"
                                   r"(?: Backward)?(?: using| on) (\w+)", line)] if m]
    seq = any("Seq Scan" in line for line in lines)
    ms = next(float(line.split(":")[1].split()[0]) for line in lines
              if line.startswith("Execution Time"))
    buffers = next((line.strip() for line in lines if "Buffers:" in line), "")
    return {"indexes": indexes + (["Seq Scan"] if seq else []), "execution_ms": ms,
            "buffers": buffers, "plan": lines}


def explain_cases(url: str, cases: list[tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of each history case's page query (second run: warm)."""
    from regiq_tasks.history import make_engine
    from regiq_tasks.history.repository import listing_statement
    from regiq_tasks.store.filters import JobQuery

    engine = make_engine(url)
    plans: dict[str, Any] = {}
    try:
        with engine.connect() as conn:
            for name, path, params in cases:
                if path != HISTORY:
                    continue
                stmt = listing_statement(JobQuery.build(**params), "postgresql")
                compiled = stmt.compile(dialect=engine.dialect)
                sql = "EXPLAIN (ANALYZE, BUFFERS) " + str(compiled)
                for _ in range(2):
                    lines = [r[0] for r in conn.exec_driver_sql(sql, compiled.params)]
                plans[name] = plan_summary(lines)
                found = plans[name]
                print(f"  EXPLAIN {name:<30} {found['execution_ms']:8.3f} ms  "
                      f"{', '.join(found['indexes'])}  {found['buffers']}", flush=True)
    finally:
        engine.dispose()
    return plans


def main() -> int:
    args = parse_args()
    info = common.header("bench_api")
    import redis

    from regiq_tasks.tracking.tracker import get_tracker

    rid = common.run_id()
    prefix = common.unique_prefix("api", rid) + "regiq:"
    tmp = Path(tempfile.mkdtemp(prefix="regiq-bench-api-"))
    base = time.time() - 86_400
    results: list[dict[str, Any]] = []
    loads: dict[str, float] = {}
    plans: dict[str, Any] = {}
    started = time.monotonic()
    try:
        with ExitStack() as stack:
            live_app = bench_app(prefix, args.redis_url, f"sqlite:///{tmp / 'live.db'}")
            loads["live_jobs_per_s"] = load_live(get_tracker(live_app).store, args.live_jobs,
                                                 base)
            print(f"{args.live_jobs} live jobs written ({loads['live_jobs_per_s']:,.0f}/s)")
            results += run_cases("redis", live_app, [
                ("first page", "/status/jobs", {"limit": 50}),
                ("deep page", "/status/jobs", {"limit": 50, "cursor": deep_cursor(
                    args.live_jobs, base, lambda i: True)}),
                ("status=failed, first page", "/status/jobs", {"limit": 50, "status": "failed"}),
            ], args.requests)
            databases: list[tuple[str, str, float, float | None]] = []
            if not args.no_sqlite:
                url = f"sqlite:///{tmp / 'history.db'}"
                databases.append(("sqlite", url, base,
                                  load_history(url, args.history_rows, base)))
            if not args.no_postgres:
                databases.append(("postgresql", *history_database(
                    args.database, args.history_rows, base, stack, args.postgres_server)))
            for label, url, rows_base, rate in databases:
                if rate is not None:
                    loads[f"{label}_rows_per_s"] = rate
                print(f"{args.history_rows} history rows in {label} " + (
                    f"(loaded, {rate:,.0f} rows/s)" if rate else "(already there)"), flush=True)
                app = bench_app(prefix, args.redis_url, url)
                cases = history_cases(args.history_rows, rows_base)
                results += run_cases(label, app, cases + other_cases(rows_base),
                                     args.requests)
                if args.explain and label == "postgresql":
                    plans = explain_cases(url, cases + explain_only_cases())
                get_tracker(app).engine.dispose()
    finally:
        deleted = common.delete_prefix(args.redis_url, prefix)
        shutil.rmtree(tmp, ignore_errors=True)
        redis.Redis.from_url(args.redis_url).close()
    print()
    rows = []
    for r in results:
        target = TARGET_LIVE_MS if r["backend"] == "redis" else TARGET_HISTORY_MS
        worst = max(r["server_p95_ms"], r["http_p95_ms"])
        verdict = f"<= {target:.0f}: " + ("met" if worst <= target else "NOT met")
        rows.append([r["backend"], r["case"], f"{r['server_p50_ms']:.2f}",
                     f"{r['server_p95_ms']:.2f}", f"{r['http_p50_ms']:.2f}",
                     f"{r['http_p95_ms']:.2f}",
                     verdict if r["path"] in ("/status/jobs", HISTORY) else "(none here)"])
    print(common.table(["store", "case", "server p50", "server p95", "HTTP p50", "HTTP p95",
                        "p95 target (ms)"], rows))
    print(f"total run time {time.monotonic() - started:.0f} s; deleted {deleted} Redis keys "
          f"under {prefix}")
    if not args.no_json:
        out = {"benchmark": "api", "date": common.now_iso(), "machine": info,
               "args": vars(args), "loads": loads, "results": results,
               "explain": plans}
        print(f"JSON: {common.write_json('api', out, args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
