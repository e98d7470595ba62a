"""The ``alerts`` table, alert severities and statuses, and the public alert record.

An alert is one row per open fingerprint: a partial unique index on ``fingerprint``
``WHERE status = 'open'`` lets the database fold repeats into the open row (``count``,
``last_seen``) while resolved alerts of the same fingerprint stay as history.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Table, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from regiq_tasks.history.models import NAME_LENGTH, Base, UTCDateTime
from regiq_tasks.store.record import iso

RULE_LENGTH = 64  # rule names
FINGERPRINT_LENGTH = 255  # longer fingerprints are hashed (see rules.fingerprint)
TITLE_LENGTH = 512  # one-line summaries
SEVERITY_LENGTH = 16  # the longest Severity is 8 characters
STATUS_LENGTH = 16  # open, resolved
OPEN_ONLY = "status = 'open'"  # predicate of the partial unique index and of the upsert


class Severity(StrEnum):
    """How urgent an alert is, lowest first."""

    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class AlertStatus(StrEnum):
    """An alert is open until someone resolves it."""

    OPEN = "open"
    RESOLVED = "resolved"


class Alert(Base):
    """One alert: an open fingerprint with its folded occurrences, or a resolved one."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_fingerprint_open", "fingerprint", unique=True,
              sqlite_where=text(OPEN_ONLY), postgresql_where=text(OPEN_ONLY)),
        Index("ix_alerts_status_id", "status", "id"),
        Index("ix_alerts_severity_id", "severity", "id"),
        Index("ix_alerts_rule_id", "rule", "id"),
        Index("ix_alerts_last_seen", "last_seen"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(RULE_LENGTH), nullable=False)
    severity: Mapped[str] = mapped_column(String(SEVERITY_LENGTH), nullable=False)
    status: Mapped[str] = mapped_column(String(STATUS_LENGTH), nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(FINGERPRINT_LENGTH), nullable=False)
    subject: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    title: Mapped[str] = mapped_column(String(TITLE_LENGTH), nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    note: Mapped[str | None] = mapped_column(Text)


ALERTS: Table = Base.metadata.tables[Alert.__tablename__]


def _iso(value: datetime | None) -> str | None:
    return iso(value.timestamp()) if value is not None else None


def alert_record(row: Any) -> dict[str, Any]:
    """The public alert record (REST, Socket.IO, CLI) of a row of ``alerts``."""
    return {"id": row.id, "rule": row.rule, "severity": row.severity, "status": row.status,
            "fingerprint": row.fingerprint, "subject": row.subject, "title": row.title,
            "details": dict(row.details or {}), "count": row.count,
            "first_seen": _iso(row.first_seen), "last_seen": _iso(row.last_seen),
            "resolved_at": _iso(row.resolved_at), "resolved_by": row.resolved_by,
            "note": row.note}
