"""SQLAlchemy models of the job history: one row per archived (terminal) job.

Every listing index ends with ``(created_at, id)`` so that a filtered, newest-first
keyset page is one index range scan, however deep the page. ``created_at`` leads the
first of them, which is also what history retention deletes by. On PostgreSQL,
``ix_job_history_id_pattern`` answers an id prefix (SQLite's primary key already does).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Constraint and index names follow this convention, so migrations can name them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
ID_LENGTH = 155  # a Celery task id (Celery's own result tables use 155)
NAME_LENGTH = 255  # task names, job types, worker and queue names, error types
STATUS_LENGTH = 16  # the longest JobStatus value is 9 characters
ARGS_PREVIEW_LENGTH = 512  # DESIGN: args_preview is at most 512 characters
LEVEL_LENGTH = 32  # a log level's name (``WARNING``, or a custom level's)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware DateTime that stores UTC and reads naive values (SQLite) as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Normalise to an aware UTC datetime; a naive one is taken as UTC."""
        return as_utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime whatever the driver gave back."""
        return as_utc(value)


def as_utc(value: datetime | None) -> datetime | None:
    """``value`` as an aware UTC datetime (naive values are read as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of the regiq-tasks SQL models."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _listing_index(*leading: str) -> Index:
    columns = (*leading, "created_at", "id")
    return Index("ix_job_history_" + "_".join(columns), *columns)


ID_PATTERN_INDEX = "ix_job_history_id_pattern"  # PostgreSQL only: id prefixes in byte order


def _id_pattern_index() -> Index:
    return Index(ID_PATTERN_INDEX, "id",
                 postgresql_ops={"id": "varchar_pattern_ops"}).ddl_if(dialect="postgresql")


class JobHistory(Base):
    """An archived job: the filterable fields as columns, the whole record as JSON."""

    __tablename__ = "job_history"
    __table_args__ = (
        _listing_index(),
        _listing_index("status"),
        _listing_index("type"),
        _listing_index("worker"),
        _listing_index("pipeline_id"),
        _listing_index("name"),
        _listing_index("type", "status"),
        _id_pattern_index(),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    type: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    status: Mapped[str] = mapped_column(String(STATUS_LENGTH), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    queue_wait_s: Mapped[float | None] = mapped_column(Float)
    duration_s: Mapped[float | None] = mapped_column(Float)
    worker: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    queue: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    retries: Mapped[int | None] = mapped_column(Integer)
    pipeline_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    root_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    parent_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    group_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    error_type: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    error_message: Mapped[str | None] = mapped_column(Text)
    cpu_time_s: Mapped[float | None] = mapped_column(Float)
    cpu_percent: Mapped[float | None] = mapped_column(Float)
    peak_rss_bytes: Mapped[int | None] = mapped_column(BigInteger)
    progress_percent: Mapped[float | None] = mapped_column(Float)
    args_preview: Mapped[str | None] = mapped_column(String(ARGS_PREVIEW_LENGTH))
    record: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


JOB_HISTORY: Table = Base.metadata.tables[JobHistory.__tablename__]


class JobLog(Base):
    """One kept log line of an archived job; ``seq`` numbers a job's lines from 0, so the
    smallest ``seq`` kept is also how many earlier lines were let go."""

    __tablename__ = "job_logs"

    job_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("job_history.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    level: Mapped[str] = mapped_column(String(LEVEL_LENGTH), nullable=False)
    logger: Mapped[str] = mapped_column(String(NAME_LENGTH), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)


JOB_LOGS: Table = Base.metadata.tables[JobLog.__tablename__]
