"""Alerts in SQL: the deduplicating upsert, resolution, reads and keyset pages.

Deduplication is the database's job: ``INSERT ... ON CONFLICT (fingerprint) WHERE
status = 'open' DO UPDATE SET count = count + n, last_seen = ...`` against the partial
unique index, so two workers raising one fingerprint at once leave one open row. The
upsert locks that row for the rest of its transaction, in which the folded job ids are
merged into ``details`` (PostgreSQL row lock; SQLite serialises writers).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Insert, select, text, update

from regiq_tasks.alerts.models import ALERTS, OPEN_ONLY, AlertStatus, alert_record
from regiq_tasks.alerts.rules import MAX_FOLDED_JOBS, AlertDraft
from regiq_tasks.errors import AlertAlreadyResolved, AlertNotFound
from regiq_tasks.history.db import dialect_insert


@dataclass(frozen=True)
class AlertQuery:
    """A validated alert listing: filters, page size and keyset position (id below)."""

    status: str | None = None
    severity: str | None = None
    rule: str | None = None
    since: datetime | None = None
    limit: int = 50
    before_id: int | None = None


@functools.cache
def _upsert(dialect_name: str) -> Insert:
    """The deduplicating insert for this dialect, returning the row after it."""
    stmt = dialect_insert(ALERTS, dialect_name, "alerts database")
    upsert: Insert = stmt.on_conflict_do_update(
        index_elements=[ALERTS.c.fingerprint], index_where=text(OPEN_ONLY),
        set_={"count": ALERTS.c.count + stmt.excluded.count,
              "last_seen": stmt.excluded.last_seen},
    ).returning(ALERTS.c.id, ALERTS.c.count, ALERTS.c.details)
    return upsert


def merge_details(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """New details win, except ``job_ids``: old then new, distinct, the latest kept."""
    ids = [*(old.get("job_ids") or []), *(new.get("job_ids") or [])]
    distinct = list(dict.fromkeys(ids))[-MAX_FOLDED_JOBS:]
    return {**old, **new, "job_ids": distinct}


def _row(connection: Connection, alert_id: int) -> Any:
    return connection.execute(select(ALERTS).where(ALERTS.c.id == alert_id)).one_or_none()


def raise_alert(engine: Engine, draft: AlertDraft,
                now: datetime | None = None) -> tuple[dict[str, Any], bool]:
    """Open a new alert or fold the draft into the open one; (record, True if new)."""
    now = now or datetime.now(UTC)
    details = {**draft.details, "job_ids": list(draft.details.get("job_ids") or [])}
    values = {"rule": draft.rule, "severity": draft.severity.value,
              "status": AlertStatus.OPEN.value, "fingerprint": draft.fingerprint,
              "subject": (draft.subject or "")[:255] or None, "title": draft.title,
              "details": details, "count": draft.count, "first_seen": now, "last_seen": now}
    with engine.begin() as connection:
        alert_id, count, old = connection.execute(_upsert(engine.dialect.name),
                                                  values).one()
        new = count == draft.count  # an update always adds a positive count
        if not new:
            connection.execute(update(ALERTS).where(ALERTS.c.id == alert_id)
                               .values(details=merge_details(old or {}, details)))
        return alert_record(_row(connection, alert_id)), new


def get_alert(engine: Engine, alert_id: int) -> dict[str, Any] | None:
    """One alert's record, or None."""
    with engine.connect() as connection:
        row = _row(connection, alert_id)
    return alert_record(row) if row is not None else None


def resolve_alert(engine: Engine, alert_id: int, note: str, resolved_by: str | None,
                  now: datetime | None = None) -> dict[str, Any]:
    """Resolve an open alert (atomically); AlertNotFound / AlertAlreadyResolved otherwise."""
    now = now or datetime.now(UTC)
    with engine.begin() as connection:
        done = connection.execute(
            update(ALERTS).where(ALERTS.c.id == alert_id,
                                 ALERTS.c.status == AlertStatus.OPEN.value)
            .values(status=AlertStatus.RESOLVED.value, resolved_at=now,
                    resolved_by=resolved_by, note=note))
        row = _row(connection, alert_id)
    if row is None:
        raise AlertNotFound(alert_id)
    record = alert_record(row)
    if done.rowcount != 1:
        raise AlertAlreadyResolved(alert_id, record["resolved_at"], record["resolved_by"])
    return record


def _conditions(q: AlertQuery) -> list[ColumnElement[bool]]:
    terms: list[ColumnElement[bool]] = []
    for name in ("status", "severity", "rule"):
        value = getattr(q, name)
        if value is not None:
            terms.append(ALERTS.c[name] == value)
    if q.since is not None:
        terms.append(ALERTS.c.last_seen >= q.since)
    if q.before_id is not None:
        terms.append(ALERTS.c.id < q.before_id)
    return terms


def page(engine: Engine, q: AlertQuery) -> tuple[list[dict[str, Any]], int | None]:
    """One page of alerts, newest first, and the id the next page starts below (or None)."""
    stmt = select(ALERTS).where(*_conditions(q)).order_by(ALERTS.c.id.desc()).limit(q.limit + 1)
    with engine.connect() as connection:
        rows = connection.execute(stmt).all()
    items = [alert_record(row) for row in rows[: q.limit]]
    return items, (items[-1]["id"] if len(rows) > q.limit else None)
