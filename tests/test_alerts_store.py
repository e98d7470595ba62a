"""The alerts table: deduplication under concurrency, resolution, statistics, listing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from celery import Celery
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Engine

from regiq_tasks.alerts import (
    AlertDraft,
    Severity,
    alert_statistics,
    get_alert,
    list_alerts,
    resolve_alert,
    store,
)
from regiq_tasks.alerts.models import ALERTS
from regiq_tasks.errors import AlertAlreadyResolved, AlertNotFound
from regiq_tasks.history import alembic_config, downgrade, make_engine, upgrade
from regiq_tasks.tracking.tracker import get_tracker

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def draft(job_id: str, rule: str = "job_failed", job_type: str = "parse",
          severity: Severity = Severity.HIGH, count: int = 1) -> AlertDraft:
    return AlertDraft(rule, severity, f"{rule}:{job_type}:ValueError", job_type,
                      f"{job_type} failed", {"job_id": job_id, "job_ids": [job_id]}, count)


def rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(ALERTS)).scalar_one())


def test_concurrent_raises_of_one_fingerprint_leave_one_row(history_engine: Engine) -> None:
    n = 8
    barrier = threading.Barrier(n)
    results: list[tuple[dict[str, Any], bool]] = []
    errors: list[BaseException] = []

    def raise_one(i: int) -> None:
        barrier.wait()
        try:
            results.append(store.raise_alert(history_engine, draft(f"job-{i}")))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=raise_one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert rows(history_engine) == 1
    assert sum(1 for _, new in results if new) == 1
    alert = store.get_alert(history_engine, results[0][0]["id"])
    assert alert is not None and alert["count"] == n
    assert sorted(alert["details"]["job_ids"]) == sorted(f"job-{i}" for i in range(n))


def test_a_repeat_raises_count_and_last_seen_and_a_resolved_alert_opens_anew(
        history_engine: Engine) -> None:
    first, new = store.raise_alert(history_engine, draft("a"), now=T0)
    again, repeat_new = store.raise_alert(history_engine, draft("b"),
                                          now=T0 + timedelta(seconds=60))
    assert new and not repeat_new and again["id"] == first["id"]
    assert again["count"] == 2 and again["first_seen"] == "2026-11-01T12:00:00Z"
    assert again["last_seen"] == "2026-11-01T12:01:00Z"
    assert again["details"]["job_id"] == "b" and again["details"]["job_ids"] == ["a", "b"]
    store.resolve_alert(history_engine, first["id"], "fixed", "ops")
    reopened, reopened_new = store.raise_alert(history_engine, draft("c"))
    assert reopened_new and reopened["id"] != first["id"] and reopened["count"] == 1
    assert rows(history_engine) == 2


def test_folded_job_ids_are_bounded_to_the_latest(history_engine: Engine) -> None:
    for i in range(30):
        alert, _ = store.raise_alert(history_engine, draft(f"j{i}"))
    assert alert["count"] == 30
    assert alert["details"]["job_ids"] == [f"j{i}" for i in range(10, 30)]


@pytest.fixture
def db_app(make_app: Callable[..., Celery], database_url: str) -> Celery:
    upgrade(database_url)  # as a worker's start or `regiq db upgrade` leaves it
    return make_app(database_url=database_url)


def test_resolve_records_who_when_and_why_and_refuses_a_second_time(db_app: Celery) -> None:
    alert, _ = store.raise_alert(get_tracker(db_app).engine, draft("a"))
    resolved = resolve_alert(str(alert["id"]), "  reran the batch ", "alice", app=db_app)
    assert resolved["status"] == "resolved" and resolved["note"] == "reran the batch"
    assert resolved["resolved_by"] == "alice" and resolved["resolved_at"].endswith("Z")
    assert get_alert(alert["id"], app=db_app) == resolved
    with pytest.raises(AlertAlreadyResolved, match=f"alert {alert['id']} was already resolved"):
        resolve_alert(alert["id"], "again", "bob", app=db_app)
    assert get_alert(alert["id"], app=db_app)["resolved_by"] == "alice"
    with pytest.raises(AlertNotFound, match="no alert with id 999"):
        resolve_alert(999, "x", app=db_app)
    with pytest.raises(AlertNotFound):
        get_alert(999, app=db_app)
    with pytest.raises(ValueError, match="^note:"):
        resolve_alert(alert["id"], "   ", app=db_app)


def test_statistics_match_what_was_raised_and_resolved(db_app: Celery) -> None:
    engine = get_tracker(db_app).engine
    failed, _ = store.raise_alert(engine, draft("a"), now=T0)
    store.raise_alert(engine, draft("b"), now=T0)  # folded: 1 row, 2 occurrences
    burst, _ = store.raise_alert(engine, draft("c", "failure_burst", severity=Severity.CRITICAL,
                                               count=5), now=T0)
    store.raise_alert(engine, draft("d", "job_overdue", "slow", Severity.MEDIUM), now=T0)
    store.resolve_alert(engine, failed["id"], "ok", "ops", now=T0 + timedelta(seconds=10))
    store.resolve_alert(engine, burst["id"], "ok", "ops", now=T0 + timedelta(seconds=30))
    stats = alert_statistics(app=db_app)
    assert stats["total"] == {"alerts": 3, "occurrences": 8}
    assert stats["open"] == 1
    assert stats["by_status"] == {"open": {"alerts": 1, "occurrences": 1},
                                  "resolved": {"alerts": 2, "occurrences": 7}}
    assert stats["by_severity"] == {"LOW": {"alerts": 0, "occurrences": 0},
                                    "MEDIUM": {"alerts": 1, "occurrences": 1},
                                    "HIGH": {"alerts": 1, "occurrences": 2},
                                    "CRITICAL": {"alerts": 1, "occurrences": 5}}
    assert stats["by_rule"] == {"failure_burst": {"alerts": 1, "occurrences": 5},
                                "job_failed": {"alerts": 1, "occurrences": 2},
                                "job_overdue": {"alerts": 1, "occurrences": 1}}
    assert stats["time_to_resolve_s"] == {"resolved": 2, "mean": 20.0, "p95": 30.0}


def test_listing_filters_and_pages_newest_first_stable_under_inserts(db_app: Celery) -> None:
    engine = get_tracker(db_app).engine
    ids = [store.raise_alert(engine, draft(f"j{i}", job_type=f"type{i}"),
                             now=T0 + timedelta(minutes=i))[0]["id"] for i in range(5)]
    first = list_alerts(limit=2, app=db_app)
    assert [a["id"] for a in first["items"]] == ids[:2:-1][:2]
    store.raise_alert(engine, draft("late", job_type="other"))  # newer: not in later pages
    second = list_alerts(limit=2, cursor=first["next_cursor"], app=db_app)
    third = list_alerts(limit=2, cursor=second["next_cursor"], app=db_app)
    seen = [a["id"] for page in (first, second, third) for a in page["items"]]
    assert seen == ids[::-1] and third["next_cursor"] is None
    store.resolve_alert(engine, ids[0], "ok", None)
    assert [a["id"] for a in list_alerts(status="resolved", app=db_app)["items"]] == [ids[0]]
    assert len(list_alerts(status="open", severity="high", rule="job_failed",
                           app=db_app)["items"]) == 5
    recent = list_alerts(since="2026-11-01T12:03:00Z", app=db_app)["items"]
    assert ids[3] in [a["id"] for a in recent] and ids[2] not in [a["id"] for a in recent]


@pytest.mark.parametrize(("arguments", "parameter"), [
    ({"status": "closed"}, "status"), ({"severity": "URGENT"}, "severity"),
    ({"rule": ""}, "rule"), ({"since": "yesterday"}, "since"), ({"limit": 0}, "limit"),
    ({"limit": "10"}, "limit"), ({"cursor": "not-a-cursor"}, "cursor"),
    ({"cursor": 5}, "cursor"),
])
def test_bad_listing_arguments_raise_value_errors_naming_the_parameter(
        app: Celery, arguments: dict[str, Any], parameter: str) -> None:
    with pytest.raises(ValueError, match=f"^{parameter}:"):
        list_alerts(app=app, **arguments)


def test_bad_alert_ids_raise_value_errors(app: Celery) -> None:
    for bad in ("abc", 0, -3, None, True):
        with pytest.raises(ValueError, match="^alert_id:"):
            get_alert(bad, app=app)  # type: ignore[arg-type]


def test_the_alerts_migration_goes_up_and_down(database_url: str) -> None:
    script = ScriptDirectory.from_config(alembic_config(database_url))
    mine = next(r for r in script.walk_revisions() if r.module.__file__.endswith("_alerts.py"))
    upgrade(database_url)
    assert "alerts" in tables(database_url)
    downgrade(database_url, str(mine.down_revision))
    assert "alerts" not in tables(database_url) and "job_history" in tables(database_url)
    upgrade(database_url)
    assert "alerts" in tables(database_url)


def tables(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        return inspect(engine).get_table_names()
    finally:
        engine.dispose()
