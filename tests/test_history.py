"""The SQL job history: migrations, idempotent upserts, filters and keyset pagination.

Every database test runs on SQLite and on PostgreSQL (see tests/fixtures/databases.py).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text

from regiq_tasks.errors import HistoryQueryTimeout
from regiq_tasks.history import (
    JOB_HISTORY,
    VERSION_TABLE,
    Base,
    current_revision,
    database_url,
    downgrade,
    get_job,
    make_engine,
    query_history,
    row_from_record,
    upgrade,
    upsert_jobs,
)
from regiq_tasks.history.db import head_revision
from regiq_tasks.history.repository import listing_statement, upsert_rows
from regiq_tasks.store.filters import JobQuery

ROOT = Path(__file__).resolve().parents[1]
BASE = datetime(2026, 11, 28, 13, 0, 0, 123456, tzinfo=UTC)
LISTING_INDEXES = {
    "ix_job_history_created_at_id", "ix_job_history_status_created_at_id",
    "ix_job_history_type_created_at_id", "ix_job_history_worker_created_at_id",
    "ix_job_history_pipeline_id_created_at_id", "ix_job_history_name_created_at_id",
    "ix_job_history_type_status_created_at_id",
}


def stamp(moment: datetime | None) -> str | None:
    """A datetime as the record's ISO-8601 UTC string."""
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def job(job_id: str, created: datetime | None = BASE, **fields: Any) -> dict[str, Any]:
    """A finished job record in the DESIGN shape; keyword arguments override fields."""
    started = None if created is None else created + timedelta(seconds=1)
    record: dict[str, Any] = {
        "id": job_id, "name": "pipeline.ingest", "type": "ingest", "status": "succeeded",
        "progress": {"current": 10, "total": 10, "percent": 100.0, "message": "parsed d10"},
        "eta_seconds": None, "rate_per_s": 2.5, "created_at": stamp(created),
        "started_at": stamp(started),
        "finished_at": stamp(None if started is None else started + timedelta(seconds=4)),
        "queue_wait_s": 1.0, "duration_s": 4.0, "worker": "celery@a", "queue": "celery",
        "retries": 0, "pipeline_id": job_id, "root_id": job_id, "parent_id": None,
        "group_id": None, "error": None, "cancel": None,
        "resources": {"cpu_time_s": 1.5, "cpu_percent": 37.5, "peak_rss_bytes": 5_000_000_000},
        "args_preview": "(['d1', 'd2'],)", "metadata": {"source": "test"},
    }
    record.update(fields)
    return record


def walk(engine: Engine, limit: int = 7, **filters: Any) -> list[list[dict[str, Any]]]:
    """Every page of a listing, following next_cursor until it is None."""
    pages, cursor = [], None
    while True:
        items, cursor = query_history(engine, JobQuery.build(limit=limit, cursor=cursor,
                                                             **filters))
        pages.append(items)
        if cursor is None:
            return pages


def flat(pages: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The items of all pages, in order."""
    return list(itertools.chain.from_iterable(pages))


def newest_first(records: list[dict[str, Any]]) -> list[str]:
    """The ids of ``records`` in listing order: (created_at DESC, id DESC)."""
    ordered = sorted(records, key=lambda r: (r["created_at"], r["id"]), reverse=True)
    return [r["id"] for r in ordered]


def ids(items: list[dict[str, Any]]) -> list[str]:
    """The ids of listed items, in order."""
    return [item["id"] for item in items]


def colliding_jobs(count: int, per_instant: int = 8) -> list[dict[str, Any]]:
    """``count`` jobs whose created_at values collide in groups of ``per_instant``."""
    return [job(f"job-{(i * 37) % count:03d}",
                created=BASE + timedelta(microseconds=(i // per_instant) * 250_001))
            for i in range(count)]


# Migrations ------------------------------------------------------------------------------

def test_upgrade_on_an_empty_database_creates_the_table_and_downgrade_removes_it(
        database_url: str) -> None:
    assert current_revision(database_url) is None

    upgrade(database_url)

    assert current_revision(database_url) == head_revision()
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            inspector = inspect(connection)
            assert {c["name"] for c in inspector.get_columns("job_history")} == \
                set(JOB_HISTORY.columns.keys())
            pattern = {"ix_job_history_id_pattern"} if "postgresql" in database_url else set()
            assert {i["name"] for i in inspector.get_indexes("job_history")} == \
                LISTING_INDEXES | pattern
            assert inspector.get_pk_constraint("job_history")["constrained_columns"] == ["id"]

        downgrade(database_url, "base")

        assert current_revision(database_url) is None
        with engine.connect() as connection:
            assert not inspect(connection).has_table("job_history")
    finally:
        engine.dispose()


def test_the_migration_creates_exactly_the_schema_of_the_models(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={
                "compare_type": True,
                "include_name": lambda name, kind, parent: name != VERSION_TABLE,
                # the id pattern index exists on PostgreSQL only (ddl_if)
                "include_object": lambda obj, name, kind, reflected, other: not (
                    name == "ix_job_history_id_pattern"
                    and connection.dialect.name != "postgresql"),
            })
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_upgrading_again_at_head_changes_nothing(history_engine: Engine,
                                                 database_url: str) -> None:
    upsert_jobs(history_engine, [job("kept")])

    upgrade(database_url)

    assert current_revision(database_url) == head_revision()
    assert get_job(history_engine, "kept") is not None


def test_concurrent_first_upgrades_all_succeed(database_url: str) -> None:
    # Given four processes (like four workers starting) that migrate one empty database
    code = f"from regiq_tasks.history import upgrade; upgrade({database_url!r})"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                      os.environ.get("PYTHONPATH")]))}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    # Then each succeeds: the migration lock serialises them
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    assert current_revision(database_url) == head_revision()


def test_make_engine_tunes_sqlite_and_creates_the_missing_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'deeper' / 'history.db'}"
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            pragmas = [connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                       for name in ("journal_mode", "busy_timeout", "synchronous")]
    finally:
        engine.dispose()
    assert pragmas == ["wal", 30_000, 1]  # synchronous 1 is NORMAL
    assert (tmp_path / "nested" / "deeper" / "history.db").exists()


def test_a_plain_postgresql_url_uses_the_psycopg_driver() -> None:
    assert database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    engine = make_engine("postgresql://u@h/db")
    assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg")
    engine.dispose()


# Upserts and reads -----------------------------------------------------------------------

def test_upserting_the_same_records_twice_keeps_one_row_each_with_the_later_values(
        history_engine: Engine) -> None:
    first = [job(f"j{i}", status="running", duration_s=None) for i in range(3)]
    later = [job(f"j{i}", status="failed", duration_s=10.0 + i, worker="celery@b",
                 error={"type": "ValueError", "message": f"bad {i}", "traceback": "..."})
             for i in range(3)]

    assert upsert_jobs(history_engine, first) == 3
    assert upsert_jobs(history_engine, later) == 3

    with history_engine.connect() as connection:
        rows = connection.execute(select(JOB_HISTORY).order_by(JOB_HISTORY.c.id)).all()
    assert [r.id for r in rows] == ["j0", "j1", "j2"]
    assert [(r.status, r.duration_s, r.worker, r.error_type, r.error_message) for r in rows] == \
        [("failed", 10.0 + i, "celery@b", "ValueError", f"bad {i}") for i in range(3)]
    assert [get_job(history_engine, f"j{i}") for i in range(3)] == later


def test_one_batch_holding_an_id_twice_keeps_the_later_record(history_engine: Engine) -> None:
    written = upsert_jobs(history_engine, [job("dup", status="running"),
                                           job("other"), job("dup", status="cancelled")])

    assert written == 2
    assert get_job(history_engine, "dup")["status"] == "cancelled"  # type: ignore[index]


def test_get_job_returns_the_record_as_given_and_none_for_an_unknown_id(
        history_engine: Engine) -> None:
    record = job("known", created=None, metadata={"nested": {"list": [1, 2.5, None]}})
    upsert_jobs(history_engine, [record])

    assert get_job(history_engine, "known") == record
    assert get_job(history_engine, "unknown") is None


def test_columns_hold_the_flattened_record_and_times_read_back_as_aware_utc(
        history_engine: Engine) -> None:
    upsert_jobs(history_engine, [job("t", created=datetime(2026, 11, 28, 13, 0, 0, 999999,
                                                           tzinfo=UTC))])

    with history_engine.connect() as connection:
        row = connection.execute(select(JOB_HISTORY)).one()
    assert row.created_at == datetime(2026, 11, 28, 13, 0, 0, 999999, tzinfo=UTC)
    assert row.created_at.utcoffset() == timedelta(0)
    assert row.finished_at == datetime(2026, 11, 28, 13, 0, 5, 999999, tzinfo=UTC)
    assert row.archived_at.tzinfo is not None
    assert (row.cpu_time_s, row.cpu_percent, row.peak_rss_bytes, row.progress_percent) == \
        (1.5, 37.5, 5_000_000_000, 100.0)


def test_values_longer_than_their_column_are_cut_in_the_column_but_kept_in_the_record(
        history_engine: Engine) -> None:
    record = job("long", name="n" * 400, args_preview="a" * 600)

    upsert_jobs(history_engine, [record])

    with history_engine.connect() as connection:
        row = connection.execute(select(JOB_HISTORY)).one()
    assert (len(row.name), len(row.args_preview)) == (255, 512)
    assert get_job(history_engine, "long") == record


def test_values_no_column_can_hold_are_left_out_of_it_but_kept_in_the_record(
        history_engine: Engine) -> None:
    """NUL in text, numbers that are not numbers or overflow their column: the row is
    written (one odd value never fails an archiver batch) and the record keeps them."""
    record = job("odd", worker="celery@\x00a", queue=5,
                 error={"type": "E\x00", "message": "bad \x00 byte", "traceback": ""},
                 retries=2**40, queue_wait_s="soon", duration_s=float("inf"),
                 resources={"cpu_time_s": True, "cpu_percent": "84", "peak_rss_bytes": 7.0})

    assert upsert_jobs(history_engine, [record]) == 1

    with history_engine.connect() as connection:
        row = connection.execute(select(JOB_HISTORY)).one()
    assert (row.worker, row.queue, row.error_type, row.error_message) == \
        ("celery@\ufffda", "5", "E\ufffd", "bad \ufffd byte")
    assert (row.retries, row.queue_wait_s, row.duration_s, row.cpu_time_s, row.cpu_percent,
            row.peak_rss_bytes) == (None, None, None, None, None, 7)
    kept = get_job(history_engine, "odd")
    assert kept is not None and kept["error"]["message"] == "bad \x00 byte"
    assert (kept["retries"], kept["queue_wait_s"]) == (2**40, "soon")
    # JSON cannot spell infinity: null in the record, on every database
    assert kept["duration_s"] is None


def test_two_upserts_in_one_transaction_keep_the_later_values(history_engine: Engine) -> None:
    """PostgreSQL stages each call's rows in a temporary table: a second call in the same
    transaction starts from an empty one (or its ON CONFLICT would meet an id twice)."""
    with history_engine.begin() as connection:
        assert upsert_rows(connection, [job("a", status="running"), job("b")]) == 2
        assert upsert_rows(connection, [job("a", status="failed"), job("c")]) == 2

    with history_engine.connect() as connection:
        rows = connection.execute(select(JOB_HISTORY.c.id, JOB_HISTORY.c.status)
                                  .order_by(JOB_HISTORY.c.id)).all()
    assert [tuple(r) for r in rows] == [("a", "failed"), ("b", "succeeded"),
                                        ("c", "succeeded")]


# row_from_record -------------------------------------------------------------------------

STARTED, FINISHED = "2026-11-28T13:00:01Z", "2026-11-28T13:00:05.5Z"


@pytest.mark.parametrize(("times", "expected"), [
    ({"created_at": "2026-11-28T13:00:00.123456Z"}, datetime(2026, 11, 28, 13, 0, 0, 123456)),
    ({"created_at": None}, datetime(2026, 11, 28, 13, 0, 1)),
    ({"started_at": None}, datetime(2026, 11, 28, 13, 0, 5, 500000)),
    ({"created_at": None, "started_at": None, "finished_at": None}, datetime(2030, 1, 1)),
], ids=["created", "started", "finished", "now"])
def test_row_from_record_falls_back_from_created_to_started_to_finished_to_now(
        times: dict[str, str | None], expected: datetime) -> None:
    record = {"id": "x", "status": "lost", "started_at": STARTED, "finished_at": FINISHED,
              **times}

    row = row_from_record(record, now=datetime(2030, 1, 1, tzinfo=UTC))

    assert row["created_at"] == expected.replace(tzinfo=UTC)


def test_row_from_record_without_any_time_uses_the_current_time() -> None:
    before = datetime.now(UTC)
    row = row_from_record({"id": "x", "status": "cancelled"})
    assert before <= row["created_at"] <= datetime.now(UTC)
    assert row["started_at"] is None and row["finished_at"] is None
    assert row["error_type"] is None and row["peak_rss_bytes"] is None


def test_row_from_record_reads_offsets_and_naive_strings_as_given_or_utc() -> None:
    row = row_from_record({"id": "x", "status": "failed",
                           "created_at": "2026-11-28T14:00:00+01:00",
                           "started_at": "2026-11-28T13:00:01", "finished_at": None})
    assert row["created_at"] == datetime(2026, 11, 28, 13, tzinfo=UTC)
    assert row["started_at"] == datetime(2026, 11, 28, 13, 0, 1, tzinfo=UTC)


def test_row_from_record_rejects_records_without_id_or_bad_times() -> None:
    with pytest.raises(ValueError, match="record"):
        row_from_record({"status": "failed"})
    with pytest.raises(ValueError, match="started_at"):
        row_from_record({"id": "x", "status": "failed", "started_at": "yesterday"})


# Listing: filters, time window, keyset pagination ----------------------------------------

FILTER_CASES: dict[str, tuple[str, dict[str, str]]] = {
    "status": ("failed", {"status": "failed"}),
    "type": ("report", {"type": "report"}),
    "worker": ("celery@b", {"worker": "celery@b"}),
    "pipeline_id": ("pipe-1", {"pipeline_id": "pipe-1"}),
    "name": ("pipeline.report", {"name": "pipeline.report"}),
}


@pytest.mark.parametrize("field", sorted(FILTER_CASES))
def test_each_filter_lists_only_the_matching_jobs(history_engine: Engine, field: str) -> None:
    value, override = FILTER_CASES[field]
    records = [job(f"m{i}", created=BASE + timedelta(seconds=i), **override) for i in range(5)]
    records += [job(f"o{i}", created=BASE + timedelta(seconds=i)) for i in range(5)]
    upsert_jobs(history_engine, records)

    pages = walk(history_engine, limit=2, **{field: value})

    assert ids(flat(pages)) == newest_first(records[:5])


def test_a_listing_past_its_timeout_is_cancelled_and_the_next_reads_are_not_limited(
        history_engine: Engine) -> None:
    # 20,000 failures on one worker: no index serves status and worker together, so a
    # page of another worker's failures reads them all before it finds there are none
    upsert_jobs(history_engine, [job(f"f{i}", created=BASE + timedelta(milliseconds=i),
                                     status="failed", worker="celery@a")
                                 for i in range(20_000)])
    rare = JobQuery.build(status="failed", worker="celery@b", limit=50)
    with pytest.raises(HistoryQueryTimeout) as caught:
        query_history(history_engine, rare, timeout=0.001)
    assert caught.value.summary.startswith("history database query timed out after 0.001 s")
    assert "since/until" in caught.value.summary
    # the limit was the block's own: the pool's connections read past it afterwards
    assert query_history(history_engine, rare) == ([], None)
    assert query_history(history_engine, rare, timeout=60) == ([], None)
    first, _ = query_history(history_engine, JobQuery.build(limit=3), timeout=60)
    assert ids(first) == ["f19999", "f19998", "f19997"]


def test_root_id_is_accepted_as_the_pipeline_filter(history_engine: Engine) -> None:
    upsert_jobs(history_engine, [job("a", pipeline_id="p"), job("b", pipeline_id="q")])

    items, _ = query_history(history_engine, JobQuery.build(root_id="p"))

    assert ids(items) == ["a"]


def test_status_and_type_together_select_their_intersection(history_engine: Engine) -> None:
    combos = [(s, t) for s in ("failed", "succeeded") for t in ("ingest", "report")]
    records = [job(f"{s}-{t}-{i}", status=s, type=t, created=BASE + timedelta(seconds=i))
               for s, t in combos for i in range(3)]
    upsert_jobs(history_engine, records)

    items = flat(walk(history_engine, limit=2, status="failed", type="report"))

    assert ids(items) == ["failed-report-2", "failed-report-1", "failed-report-0"]


def test_since_is_inclusive_and_until_is_exclusive(history_engine: Engine) -> None:
    records = [job(f"s{i}", created=BASE + timedelta(minutes=i)) for i in range(6)]
    upsert_jobs(history_engine, records)

    window: dict[str, Any] = {"since": stamp(BASE + timedelta(minutes=1)),
                              "until": stamp(BASE + timedelta(minutes=4))}
    until_epoch = (BASE + timedelta(minutes=1)).timestamp()

    assert ids(flat(walk(history_engine, **window))) == ["s3", "s2", "s1"]
    assert ids(flat(walk(history_engine, since=BASE + timedelta(minutes=4)))) == ["s5", "s4"]
    assert ids(flat(walk(history_engine, until=until_epoch))) == ["s0"]


def test_walking_pages_of_seven_lists_every_job_once_newest_first(
        history_engine: Engine) -> None:
    # Given 61 jobs whose created_at values collide in groups of 8 (ties broken by id)
    records = colliding_jobs(61)
    upsert_jobs(history_engine, records)

    pages = walk(history_engine, limit=7)

    assert [len(p) for p in pages] == [7] * 8 + [5]
    assert ids(flat(pages)) == newest_first(records)


def test_walking_a_filtered_listing_with_ties_lists_every_match_once(
        history_engine: Engine) -> None:
    records = [dict(r, status="failed" if i % 3 else "succeeded")
               for i, r in enumerate(colliding_jobs(60))]
    upsert_jobs(history_engine, records)

    items = flat(walk(history_engine, limit=7, status="failed"))

    assert ids(items) == newest_first([r for r in records if r["status"] == "failed"])


def test_pages_stay_stable_when_newer_jobs_arrive_between_fetches(
        history_engine: Engine) -> None:
    records = colliding_jobs(60)
    upsert_jobs(history_engine, records)
    seen, cursor, batch = [], None, 0
    while True:
        items, cursor = query_history(history_engine, JobQuery.build(limit=7, cursor=cursor))
        seen += items
        if cursor is None:
            break
        # When newer jobs (some tying with the newest instant) arrive before the next fetch
        newest = BASE + timedelta(hours=1, seconds=batch)
        upsert_jobs(history_engine, [job(f"new-{batch}-{k}", created=newest) for k in range(3)])
        batch += 1

    # Then the walk shows each original job exactly once, in order, and none of the new
    assert ids(seen) == newest_first(records)
    assert batch == 8


def test_the_last_full_page_has_no_next_cursor(history_engine: Engine) -> None:
    upsert_jobs(history_engine, [job(f"e{i}", created=BASE + timedelta(seconds=i))
                                 for i in range(7)])

    items, cursor = query_history(history_engine, JobQuery.build(limit=7))

    assert len(items) == 7 and cursor is None
    assert query_history(history_engine, JobQuery.build()) == (items, None)


def test_an_empty_history_lists_nothing(history_engine: Engine) -> None:
    assert query_history(history_engine, JobQuery.build()) == ([], None)


@pytest.mark.parametrize("cursor", ["not-a-cursor", "%%%", "MTIz"])
def test_a_bad_cursor_is_a_value_error_naming_cursor(cursor: str) -> None:
    with pytest.raises(ValueError, match="^cursor"):
        JobQuery.build(cursor=cursor)


@pytest.mark.parametrize("filters", [{}, {"status": "failed"}, {"type": "a"},
                                     {"status": "failed", "type": "a"}, {"worker": "w"},
                                     {"pipeline_id": "p"}, {"name": "n"}])
def test_a_deep_page_is_an_index_range_scan_without_sort(history_engine: Engine,
                                                        filters: dict[str, str]) -> None:
    q = JobQuery.build(cursor=_cursor_of(BASE, "job-x"), since=BASE - timedelta(days=1),
                       **filters)
    plan = _plan(history_engine, q)

    assert "USING INDEX ix_job_history_" in plan or "Index Cond" in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan and "Seq Scan" not in plan, plan
    assert "(created_at,id)<" in plan.replace(" ", "") or "ROW(created_at" in plan, plan


def _cursor_of(moment: datetime, job_id: str) -> str:
    """The cursor pointing just after the job (moment, job_id)."""
    from regiq_tasks.history.repository import created_us
    from regiq_tasks.store.filters import encode_cursor
    return encode_cursor(created_us(moment), job_id)


def _plan(engine: Engine, q: JobQuery) -> str:
    """The query plan of a listing page, as text."""
    compiled = listing_statement(q, engine.dialect.name).compile(
        engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all()
            return "\n".join(str(row[-1]) for row in rows)
        # The test table is tiny: forbid the sequential scan a planner would rightly pick.
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        return "\n".join(row[0] for row in connection.execute(text(f"EXPLAIN {compiled}")))
