"""Finding jobs: by id prefix and task name, live (Redis) and archived (SQLite, PostgreSQL),
with bounded work per request and bad input refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import Engine, text

from regiq_tasks import get_history, list_jobs
from regiq_tasks.history.repository import listing_statement, query_history, upsert_jobs
from regiq_tasks.store import query as live_query
from regiq_tasks.store.filters import JobQuery
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.live import JobWriter
from tests.fixtures.monitor import Monitor
from tests.test_history import BASE, job

# ids that share prefixes, plus ones whose characters are LIKE wildcards elsewhere
IDS = ("abc-1", "abc-2", "abd-1", "ab%-1", "ab_-1", "zzz-1", "abc")


def ids(items: list[dict[str, Any]]) -> set[str]:
    return {item["id"] for item in items}


@pytest.fixture
def history(history_engine: Engine) -> Engine:
    upsert_jobs(history_engine, [job(job_id, BASE + timedelta(seconds=n),
                                     name="pipeline.ocr" if job_id.startswith("abd")
                                     else "pipeline.ingest")
                                 for n, job_id in enumerate(IDS)])
    return history_engine


@pytest.mark.parametrize(("prefix", "expected"), [
    ("abc", {"abc-1", "abc-2", "abc"}), ("abc-", {"abc-1", "abc-2"}), ("abd-1", {"abd-1"}),
    ("ab%", {"ab%-1"}), ("ab_", {"ab_-1"}), ("ABC", set()), ("zzz-9", set())])
def test_an_id_prefix_lists_exactly_the_archived_jobs_whose_id_starts_with_it(
        history: Engine, prefix: str, expected: set[str]) -> None:
    items, cursor = query_history(history, JobQuery.build(id_prefix=prefix))
    assert ids(items) == expected and cursor is None


def test_an_id_prefix_pages_newest_first_and_combines_with_the_other_filters(
        history: Engine) -> None:
    first, cursor = query_history(history, JobQuery.build(id_prefix="abc", limit=2))
    rest, end = query_history(history, JobQuery.build(id_prefix="abc", limit=2, cursor=cursor))
    assert [j["id"] for j in first + rest] == ["abc", "abc-2", "abc-1"] and end is None
    items, _ = query_history(history, JobQuery.build(id_prefix="abd", name="pipeline.ocr"))
    assert ids(items) == {"abd-1"}


def test_an_id_prefix_is_one_index_range_never_a_full_scan(history: Engine) -> None:
    statement = listing_statement(JobQuery.build(id_prefix="abc"), history.dialect.name)
    compiled = statement.compile(history, compile_kwargs={"literal_binds": True})
    with history.connect() as connection:
        if history.dialect.name == "sqlite":
            plan = "\n".join(str(r[-1]) for r in connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {compiled}"))
            assert "USING INDEX sqlite_autoindex_job_history_1 (id>? AND id<?)" in plan, plan
        else:
            connection.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(r[0] for r in connection.execute(text(f"EXPLAIN {compiled}")))
            assert "ix_job_history_id_pattern" in plan and "Seq Scan" not in plan, plan


@pytest.fixture
def writer(app: Celery) -> JobWriter:
    return JobWriter(get_tracker(app).store)


def test_live_jobs_are_found_by_id_prefix_and_by_name(app: Celery, writer: JobWriter) -> None:
    for job_id in IDS:
        writer.queued(job_id, "ocr" if job_id.startswith("abd") else "ingest")
    assert ids(list_jobs(id_prefix="abc", app=app)["items"]) == {"abc-1", "abc-2", "abc"}
    assert ids(list_jobs(id_prefix="ab%", app=app)["items"]) == {"ab%-1"}
    assert ids(list_jobs(name="t.ocr", app=app)["items"]) == {"abd-1"}
    assert ids(list_jobs(name="t.ingest", id_prefix="abd", app=app)["items"]) == set()


def test_a_live_search_reads_a_bounded_number_of_index_entries_per_request(
        app: Celery, writer: JobWriter, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given 30 live jobs of which 3 match, and a budget of 10 entries per request,
    When the listing is walked page by page,
    Then every page stops within the budget and the walk still finds all 3 matches."""
    monkeypatch.setattr(live_query, "SCAN_BUDGET", 10)
    for n in range(30):
        writer.queued(f"{'hit' if n % 10 == 0 else 'miss'}-{n:02d}")
    pages, cursor = [], None
    while True:
        page = list_jobs(id_prefix="hit", limit=5, cursor=cursor, app=app)
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [j["id"] for p in pages for j in p] == ["hit-20", "hit-10", "hit-00"]
    assert len(pages) >= 3  # 30 entries at 10 per request


def test_search_filters_through_rest_live_and_archived(app: Celery, writer: JobWriter) -> None:
    writer.run("srch-live-1", "ingest")
    tracker = get_tracker(app)
    upsert_jobs(tracker.engine, [job("srch-old-1", BASE, name="pipeline.old", type="old")])
    monitor = Monitor(app)
    assert ids(monitor.json("/status/jobs", id_prefix="srch")["items"]) == {"srch-live-1"}
    assert ids(monitor.json("/status/jobs", name="t.ingest")["items"]) == {"srch-live-1"}
    assert ids(monitor.json("/status/jobs/history", id_prefix="srch-o")["items"]) == {"srch-old-1"}
    assert ids(monitor.json("/status/jobs/history", name="pipeline.old")["items"]) == {"srch-old-1"}
    assert ids(get_history(type="old", app=app)["items"]) == {"srch-old-1"}


@pytest.mark.parametrize("query", [{"id_prefix": "ab"}, {"id_prefix": ""},
                                   {"id_prefix": " abc"}, {"id_prefix": "abc\x00"},
                                   {"id_prefix": "a" * 256}, {"name": ""},
                                   {"name": "n" * 256}])
@pytest.mark.parametrize("path", ["/status/jobs", "/status/jobs/history"])
def test_a_bad_search_is_a_400_naming_the_parameter(app: Celery, path: str,
                                                    query: dict[str, str]) -> None:
    response = Monitor(app).get(path, query=query)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert next(iter(query)) in response.get_data(as_text=True)


def test_the_python_api_refuses_a_short_id_prefix_naming_it(app: Celery) -> None:
    with pytest.raises(ValueError, match="id_prefix"):
        list_jobs(id_prefix="ab", app=app)
