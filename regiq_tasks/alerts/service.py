"""The alert API for the monitor and the CLI: plain dicts, ISO-8601 times, typed errors.

Each function takes an optional ``app`` (default: Celery's current app). Bad arguments
raise ``InvalidParameter`` (a ``ValueError``) naming the parameter; an unknown id raises
``AlertNotFound``; resolving twice raises ``AlertAlreadyResolved``; an unreachable
database raises ``StoreUnavailable``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from celery import current_app
from sqlalchemy import Engine

from regiq_tasks.alerts import stats, store
from regiq_tasks.alerts.models import AlertStatus, Severity
from regiq_tasks.alerts.store import AlertQuery
from regiq_tasks.alerts.tasks import ANNOUNCE_TASK
from regiq_tasks.errors import ALERT_DATABASE, AlertNotFound, InvalidParameter, reachable
from regiq_tasks.store.filters import (
    DEFAULT_LIMIT,
    limit_arg,
    opaque_cursor,
    prose_arg,
    read_cursor,
    to_datetime,
)
from regiq_tasks.tracking.tracker import get_tracker

logger = logging.getLogger(__name__)

NOTE_MAX = 2000  # characters of a resolution note
NAME_MAX = 255  # characters of a rule name or of who resolved
MAX_ALERT_ID = 2**63 - 1  # the largest id the alerts table can hold (BIGINT)
_CURSOR_TAG = "alert:"


def _app(app: Any) -> Any:
    return app if app is not None else current_app._get_current_object()


def _engine(app: Any) -> Engine:
    return get_tracker(_app(app)).existing_engine


def alert_id_arg(value: Any, name: str = "alert_id") -> int:
    """An alert id as an int (ints or digit strings); InvalidParameter naming ``name``."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() \
            and len(value.strip()) <= len(str(MAX_ALERT_ID)):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ALERT_ID:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise InvalidParameter(name, f"expected an integer from 1 to {MAX_ALERT_ID}, "
                                     f"got {shown}")
    return value


def encode_cursor(alert_id: int) -> str:
    """The opaque cursor of the page after the alert ``alert_id``."""
    return opaque_cursor(f"{_CURSOR_TAG}{alert_id}")


def decode_cursor(cursor: Any) -> int:
    """The alert id a cursor points after; InvalidParameter naming ``cursor`` if not ours."""
    return read_cursor(cursor, _alert_position)


def _alert_position(text: str) -> int:
    if not text.startswith(_CURSOR_TAG):
        raise ValueError(text)
    return alert_id_arg(text[len(_CURSOR_TAG):], "cursor")


def _choice(value: Any, name: str, allowed: list[str], upper: bool = False) -> str | None:
    if value is None:
        return None
    text = value.upper() if upper and isinstance(value, str) else value
    if text not in allowed:
        raise InvalidParameter(name, f"{value!r} is not one of {', '.join(allowed)}")
    return str(text)


def build_query(*, status: Any = None, severity: Any = None, rule: Any = None,
                since: Any = None, limit: Any = DEFAULT_LIMIT, cursor: Any = None) -> AlertQuery:
    """Validate listing arguments; ValueError naming the bad parameter."""
    return AlertQuery(
        status=_choice(status, "status", [s.value for s in AlertStatus]),
        severity=_choice(severity, "severity", [s.value for s in Severity], upper=True),
        rule=prose_arg(rule, "rule", NAME_MAX, required=False, strip=True),
        since=to_datetime(since, "since"), limit=limit_arg(limit),
        before_id=decode_cursor(cursor) if cursor is not None else None)


def list_alerts(*, status: str | None = None, severity: str | None = None,
                rule: str | None = None, since: datetime | str | None = None,
                limit: int = DEFAULT_LIMIT, cursor: str | None = None,
                app: Any = None) -> dict[str, Any]:
    """Alerts, newest first: ``{"items": [...], "next_cursor": str | None}``.

    ``since`` keeps alerts seen (``last_seen``) at or after that time.
    """
    q = build_query(status=status, severity=severity, rule=rule, since=since, limit=limit,
                    cursor=cursor)
    with reachable("list_alerts", ALERT_DATABASE):
        items, last_id = store.page(_engine(app), q)
    return {"items": items, "next_cursor": encode_cursor(last_id) if last_id else None}


def get_alert(alert_id: int | str, *, app: Any = None) -> dict[str, Any]:
    """One alert's record; AlertNotFound if there is none with this id."""
    key = alert_id_arg(alert_id)
    with reachable("get_alert", ALERT_DATABASE):
        alert = store.get_alert(_engine(app), key)
    if alert is None:
        raise AlertNotFound(key)
    return alert


def resolve_alert(alert_id: int | str, note: str, resolved_by: str | None = None, *,
                  app: Any = None) -> dict[str, Any]:
    """Resolve an open alert with a note; records who and when, then announces it."""
    key = alert_id_arg(alert_id)
    text = prose_arg(note, "note", NOTE_MAX, required=True, strip=True)
    who = prose_arg(resolved_by, "resolved_by", NAME_MAX, required=False, strip=True)
    celery_app = _app(app)
    with reachable("resolve_alert", ALERT_DATABASE):
        alert = store.resolve_alert(_engine(celery_app), key, str(text), who)
    try:
        celery_app.tasks[ANNOUNCE_TASK].apply_async(
            (alert, "resolved"), queue=get_tracker(celery_app).settings.alert_queue,
            retry=True, retry_policy={"max_retries": 2})
    except Exception:
        logger.warning("regiq: resolution of alert #%s not announced", key, exc_info=True)
    return alert


def alert_statistics(*, app: Any = None) -> dict[str, Any]:
    """Counts by severity, status and rule (rows and occurrences), open now, and the
    mean and p95 seconds from first seen to resolved."""
    with reachable("alert_statistics", ALERT_DATABASE):
        return stats.statistics(_engine(app))
