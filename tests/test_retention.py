"""History retention on SQLite and PostgreSQL: old rows go in small batches, newer rows
and alerts stay, 0 keeps everything, and one worker at a time does it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import Engine, event, func, select

from regiq_tasks.alerts.models import ALERTS, Severity
from regiq_tasks.alerts.rules import AlertDraft
from regiq_tasks.alerts.store import raise_alert
from regiq_tasks.config import Settings
from regiq_tasks.errors import ConfigurationError
from regiq_tasks.history import JOB_HISTORY, upgrade, upsert_jobs
from regiq_tasks.history.logs import replace_logs
from regiq_tasks.history.models import JOB_LOGS
from regiq_tasks.history.retention import delete_before, retention_cutoff, retention_duty
from regiq_tasks.housekeeping.keeper import start_housekeeper, stop_housekeeper
from regiq_tasks.store.keys import RETENTION_LOCK
from regiq_tasks.store.logs import KeptLines
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.services import worker_with_housekeeper
from tests.fixtures.waiting import wait_for
from tests.test_history import job

NOW = datetime.now(UTC)
OLD, RECENT = NOW - timedelta(days=100), NOW - timedelta(days=10)


def fill(engine: Engine, old: int, recent: int = 10) -> None:
    """``old`` jobs created 100 days ago, ``recent`` ones 10 days ago, and an old alert."""
    upsert_jobs(engine, [job(f"old-{n:05d}", OLD + timedelta(seconds=n)) for n in range(old)])
    upsert_jobs(engine, [job(f"new-{n:03d}", RECENT) for n in range(recent)])
    raise_alert(engine, AlertDraft("job_failed", Severity.HIGH, "f-old", None, "old", {}),
                now=OLD)


def counts(engine: Engine) -> tuple[int, int]:
    """(job_history rows, alert rows)."""
    with engine.connect() as connection:
        return (connection.execute(select(func.count()).select_from(JOB_HISTORY)).scalar_one(),
                connection.execute(select(func.count()).select_from(ALERTS)).scalar_one())


@pytest.fixture
def deletes() -> Iterator[Callable[[Engine], list[str]]]:
    """Record the DELETE statements an engine sends (an event listener, not a mock)."""
    watched: list[tuple[Engine, Callable[..., None]]] = []

    def watch(engine: Engine) -> list[str]:
        seen: list[str] = []

        def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.lstrip().upper().startswith("DELETE"):
                seen.append(statement)
        event.listen(engine, "before_cursor_execute", record)
        watched.append((engine, record))
        return seen

    yield watch
    for engine, record in watched:
        event.remove(engine, "before_cursor_execute", record)


def test_rows_past_the_retention_go_in_batches_and_newer_rows_and_alerts_stay(
        history_engine: Engine, deletes: Callable[[Engine], list[str]]) -> None:
    fill(history_engine, old=2500)
    with history_engine.begin() as connection:  # log lines of an old and a new job
        replace_logs(connection, {job_id: KeptLines(['{"message": "m"}'] * 3, 0, 3, 0, 3)
                                  for job_id in ("old-00007", "new-001")})
    statements = deletes(history_engine)

    purged = delete_before(history_engine, retention_cutoff(90, NOW), batch=1000)

    assert (purged.deleted, purged.batches, purged.done) == (2500, 3, True)
    # per transaction: the log lines, then at most 1,000 jobs
    assert len(statements) == 6
    assert counts(history_engine) == (10, 1)
    with history_engine.connect() as connection:
        kept = connection.execute(select(JOB_LOGS.c.job_id).distinct()).scalars().all()
    assert kept == ["new-001"]


def test_a_pass_stops_after_its_time_and_the_next_one_carries_on(
        history_engine: Engine) -> None:
    fill(history_engine, old=30)
    cutoff = retention_cutoff(90, NOW)
    first = delete_before(history_engine, cutoff, batch=10, max_seconds=0)
    assert (first.deleted, first.batches, first.done) == (10, 1, False)
    rest = delete_before(history_engine, cutoff, batch=10)
    assert rest.deleted == 20 and rest.done
    assert counts(history_engine) == (10, 1)


def test_zero_keeps_the_whole_history(make_app: Callable[..., Celery]) -> None:
    app = make_app(history_retention_days=0)
    tracker = get_tracker(app)
    fill(tracker.engine, old=5)
    assert retention_cutoff(0) is None
    assert retention_duty(tracker) is None
    assert counts(tracker.engine) == (15, 1)


def test_the_retention_setting_defaults_to_90_days_and_refuses_negative_values() -> None:
    assert Settings().history_retention_days == 90
    assert Settings.from_env({"REGIQ_HISTORY_RETENTION_DAYS": "0"}).history_retention_days == 0
    with pytest.raises(ConfigurationError, match="history_retention_days"):
        Settings.from_env({"REGIQ_HISTORY_RETENTION_DAYS": "-1"})


def test_one_worker_at_a_time_deletes_under_the_retention_lease(
        make_app: Callable[..., Celery], database_url: str,
        deletes: Callable[[Engine], list[str]]) -> None:
    """Given two workers' housekeepers on one history with 1,500 old rows,
    When both start,
    Then the old rows go, by the DELETEs of exactly one of them, which holds the lease."""
    upgrade(database_url)
    first, second = (make_app(database_url=database_url) for _ in range(2))
    fill(get_tracker(first).engine, old=1500)
    seen = [deletes(get_tracker(app).engine) for app in (first, second)]
    with worker_with_housekeeper(first):
        start_housekeeper(second)
        try:
            wait_for(lambda: counts(get_tracker(first).engine) == (10, 1), 30,
                     "old history rows deleted")
            holder = get_tracker(first).redis.get(get_tracker(first).keys.lock(RETENTION_LOCK))
        finally:
            stop_housekeeper(second)
    assert holder is not None
    # 1,500 rows: one worker, two batches of two DELETEs (the log lines, the jobs)
    assert sorted(len(s) for s in seen) == [0, 4]
