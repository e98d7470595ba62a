"""Write archived job records to ``job_history`` and read them back, newest first.

Listings are keyset-paginated over ``(created_at DESC, id DESC)``: a cursor holds the
``(created_at in µs, id)`` of the last item shown, and the next page starts strictly
after it, so pages neither repeat nor skip items while newer jobs are archived.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    Engine,
    Float,
    Insert,
    Integer,
    Select,
    and_,
    func,
    literal,
    select,
    tuple_,
)
from sqlalchemy.exc import OperationalError

from regiq_tasks.errors import HistoryQueryTimeout, InvalidParameter
from regiq_tasks.history.db import dialect_insert
from regiq_tasks.history.models import (
    ARGS_PREVIEW_LENGTH,
    ID_LENGTH,
    JOB_HISTORY,
    NAME_LENGTH,
    STATUS_LENGTH,
    UTCDateTime,
    as_utc,
)
from regiq_tasks.jsoncodec import dumps_finite
from regiq_tasks.store.filters import EARLIEST, LATEST, JobQuery, encode_cursor, to_datetime

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)
UPSERT_BATCH = 1000  # rows per executemany call inside the one upsert transaction
# The record's strings copied to columns of their own, and the lengths row_from_record
# cuts them to (the full values stay in `record`).
COLUMN_LENGTHS = {
    "id": ID_LENGTH, "name": NAME_LENGTH, "type": NAME_LENGTH, "status": STATUS_LENGTH,
    "worker": NAME_LENGTH, "queue": NAME_LENGTH, "pipeline_id": ID_LENGTH,
    "root_id": ID_LENGTH, "parent_id": ID_LENGTH, "group_id": ID_LENGTH,
    "args_preview": ARGS_PREVIEW_LENGTH,
}
# Filters of JobQuery that compare one column for equality.
EQUALITY_FILTERS = ("status", "type", "worker", "pipeline_id", "name")


def created_us(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime, in exact integer arithmetic."""
    return (moment - EPOCH) // ONE_MICROSECOND


def from_us(microseconds: int) -> datetime:
    """The aware UTC datetime ``microseconds`` after the epoch (exact)."""
    return EPOCH + timedelta(microseconds=microseconds)


def from_epoch(seconds: float) -> datetime:
    """Epoch seconds as an aware UTC datetime, rounded to the microsecond."""
    return EPOCH + timedelta(seconds=seconds)


def _string(value: Any, limit: int | None) -> str | None:
    """A string column's value: as text, cut to the column's length and with NUL (which no
    PostgreSQL text takes) as U+FFFD, so one odd value cannot fail a batch."""
    if value is None:
        return None
    if type(value) is not str:
        value = str(value)
    if limit is not None and len(value) > limit:
        value = value[:limit]
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    return value


def _float(value: Any) -> float | int | None:
    """A finite number for a float column, else None (the record keeps the value)."""
    return value if type(value) in (float, int) and math.isfinite(value) else None


def _int(value: Any, bits: int) -> int | None:
    """A number as an integer column of ``bits`` bits takes it, else None."""
    if type(value) not in (float, int) or not math.isfinite(value):
        return None
    number = int(value)
    return number if -(1 << (bits - 1)) <= number < 1 << (bits - 1) else None


def _moment(value: Any, name: str) -> datetime | None:
    """A record's time as an aware UTC datetime: its own ISO-8601 form ("...Z", the form
    every record is written in) read directly, anything else through ``to_datetime``
    (which also says why a value is refused)."""
    if type(value) is str and value.endswith("Z"):
        try:
            moment = datetime.fromisoformat(value)  # "Z" reads as UTC
        except ValueError:
            return to_datetime(value, name)
        if EARLIEST <= moment <= LATEST:
            return moment
    return to_datetime(value, name)


def _block(record: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """A nested object of the record (error, resources, progress), empty when null."""
    value = record.get(name)
    return value if isinstance(value, Mapping) else {}


def row_from_record(record: Mapping[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
    """The ``job_history`` row for a job record; ``now`` fills created_at as a last resort.

    A value its column cannot hold (a string too long, NUL, a number that is not one or
    out of range) is cut or left out of the column, never failing the row: the record
    column keeps every value as it was.
    """
    get = record.get
    if not get("id") or not get("status"):
        raise InvalidParameter("record", f"a job record needs an id and a status, got "
                                         f"{record!r}")
    now = as_utc(now) or datetime.now(UTC)
    row: dict[str, Any] = {name: _string(get(name), limit)
                           for name, limit in COLUMN_LENGTHS.items()}
    created, started, finished = (_moment(get(name), name)
                                  for name in ("created_at", "started_at", "finished_at"))
    error, resources = _block(record, "error"), _block(record, "resources")
    row.update(
        created_at=created or started or finished or now, started_at=started,
        finished_at=finished, queue_wait_s=_float(get("queue_wait_s")),
        duration_s=_float(get("duration_s")), retries=_int(get("retries"), 32),
        error_type=_string(error.get("type"), NAME_LENGTH),
        error_message=_string(error.get("message"), None),
        cpu_time_s=_float(resources.get("cpu_time_s")),
        cpu_percent=_float(resources.get("cpu_percent")),
        peak_rss_bytes=_int(resources.get("peak_rss_bytes"), 64),
        progress_percent=_float(_block(record, "progress").get("percent")),
        record=dict(record), archived_at=now)
    return row


@functools.cache
def _upsert_statement(dialect_name: str) -> Insert:
    """``INSERT ... ON CONFLICT (id) DO UPDATE`` setting every column, for this dialect."""
    stmt = dialect_insert(JOB_HISTORY, dialect_name, "history database")
    updates = {c.name: stmt.excluded[c.name] for c in JOB_HISTORY.columns if not c.primary_key}
    upsert: Insert = stmt.on_conflict_do_update(index_elements=[JOB_HISTORY.c.id], set_=updates)
    return upsert


def _chunks(rows: Sequence[dict[str, Any]], size: int) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def upsert_jobs(engine: Engine, records: Sequence[Mapping[str, Any]]) -> int:
    """Insert or replace job records by id in one transaction; return the rows written.

    Re-delivering a record is harmless. When one call holds the same id twice, the
    later record wins; the count is of distinct ids.
    """
    with engine.begin() as connection:
        return upsert_rows(connection, records)


def upsert_rows(connection: Connection, records: Sequence[Mapping[str, Any]]) -> int:
    """:func:`upsert_jobs` inside the caller's transaction."""
    now = datetime.now(UTC)
    rows = list({row["id"]: row for row in (row_from_record(r, now=now) for r in records)}
                .values())
    if not rows:
        return 0
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
        _copy_upsert(connection, rows)
        return len(rows)
    stmt = _upsert_statement(connection.dialect.name)
    for chunk in _chunks(rows, UPSERT_BATCH):
        connection.execute(stmt, list(chunk))
    return len(rows)


STAGE_TABLE = "regiq_job_history_stage"  # PostgreSQL: the upsert's COPY target (temporary)
_COLUMNS = tuple(c.name for c in JOB_HISTORY.columns)


def _binary_type(column: Column[Any]) -> str:
    """The PostgreSQL type whose binary COPY form ``column`` takes (String, Text and JSON
    have their text as their binary form)."""
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return "timestamptz"
    if isinstance(kind, BigInteger):
        return "int8"
    if isinstance(kind, Integer):
        return "int4"
    if isinstance(kind, Float):
        return "float8"
    return "text"


_COPY_TYPES = [_binary_type(c) for c in JOB_HISTORY.columns]


@functools.cache
def _stage_statements() -> tuple[str, str, str]:
    """(create the session's staging table and empty it, COPY into it, upsert from it) on
    PostgreSQL."""
    names = ", ".join(_COLUMNS)
    create = (f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE_TABLE} "
              f"(LIKE {JOB_HISTORY.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS; "
              f"TRUNCATE {STAGE_TABLE}")
    copy = f"COPY {STAGE_TABLE} ({names}) FROM STDIN (FORMAT BINARY)"
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in _COLUMNS if name != "id")
    upsert = (f"INSERT INTO {JOB_HISTORY.name} ({names}) SELECT {names} FROM {STAGE_TABLE} "
              f"ON CONFLICT (id) DO UPDATE SET {updates}")
    return create, copy, upsert


def _copy_upsert(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """PostgreSQL through psycopg 3: COPY the rows (distinct ids) into a temporary table of
    this session, emptied at commit, then one ``INSERT ... SELECT ... ON CONFLICT (id) DO
    UPDATE``: the same upsert as the statement of other dialects, without binding each
    row's parameters. The table is emptied first, for a second call in one transaction."""
    create, copy_sql, upsert = _stage_statements()
    connection.exec_driver_sql(create)
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(copy_sql) as copy:
            copy.set_types(_COPY_TYPES)
            for row in rows:
                row["record"] = dumps_finite(row["record"])
                copy.write_row([row[name] for name in _COLUMNS])
    finally:
        cursor.close()
    connection.exec_driver_sql(upsert)


def get_job(engine: Engine, job_id: str) -> dict[str, Any] | None:
    """The archived record of ``job_id``, or None if the history does not hold it."""
    with engine.connect() as connection:
        record = connection.execute(
            select(JOB_HISTORY.c.record).where(JOB_HISTORY.c.id == job_id)).scalar_one_or_none()
    return dict(record) if record is not None else None


def _successor(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` (code point
    order), or None when there is none (the prefix is all U+10FFFF)."""
    stem = prefix.rstrip(chr(0x10FFFF))
    return stem[:-1] + chr(ord(stem[-1]) + 1) if stem else None


def id_prefix_term(prefix: str, dialect_name: str) -> ColumnElement[bool]:
    """``id`` starts with ``prefix``, as one index range in code point order.

    SQLite compares text byte by byte (BINARY), so plain ``>=`` and ``<`` on the primary
    key are exact. PostgreSQL compares by the database's collation, where a range is not
    a prefix; its pattern operators ``~>=~`` and ``~<~`` compare bytes and are answered
    by ``ix_job_history_id_pattern`` (``varchar_pattern_ops``), which is what the
    planner makes of ``LIKE 'prefix%'``, without escaping and with bound parameters.
    """
    column = JOB_HISTORY.c.id
    at_least: Callable[[str], ColumnElement[bool]]
    below: Callable[[str], ColumnElement[bool]]
    if dialect_name == "postgresql":
        at_least = column.op("~>=~", is_comparison=True)
        below = column.op("~<~", is_comparison=True)
    else:
        at_least, below = column.__ge__, column.__lt__
    upper = _successor(prefix)
    return and_(at_least(prefix), below(upper)) if upper is not None else at_least(prefix)


def _conditions(q: JobQuery, dialect_name: str) -> list[ColumnElement[bool]]:
    """The WHERE terms of a listing: filters, time window and keyset position."""
    t = JOB_HISTORY
    terms: list[ColumnElement[bool]] = []
    if q.id_prefix is not None:
        terms.append(id_prefix_term(q.id_prefix, dialect_name))
    for name in EQUALITY_FILTERS:
        value = getattr(q, name)
        if value is not None:
            terms.append(t.c[name] == str(value))
    if q.since is not None:
        terms.append(t.c.created_at >= from_epoch(q.since))
    if q.until is not None:
        terms.append(t.c.created_at < from_epoch(q.until))
    if q.after is not None:
        after_us, after_id = q.after
        position = tuple_(literal(from_us(after_us), UTCDateTime()), literal(after_id))
        terms.append(tuple_(t.c.created_at, t.c.id) < position)
    return terms


def listing_statement(q: JobQuery, dialect_name: str) -> Select[Any]:
    """The SELECT of one listing page (limit + 1 rows, to tell whether more follow)."""
    t = JOB_HISTORY
    return (select(t.c.record, t.c.created_at, t.c.id)
            .where(*_conditions(q, dialect_name))
            .order_by(t.c.created_at.desc(), t.c.id.desc())
            .limit(q.limit + 1))


QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE of a statement cancelled by its timeout


@contextmanager
def time_limited(connection: Connection, seconds: float) -> Iterator[None]:
    """Cancel what the block runs on ``connection`` past ``seconds`` (0: no limit) and
    raise :class:`HistoryQueryTimeout`: PostgreSQL's ``statement_timeout`` for the
    block's transaction, SQLite's progress handler."""
    if seconds <= 0:
        yield
        return
    dialect = connection.dialect.name
    driver = connection.connection.driver_connection if dialect == "sqlite" else None
    if dialect == "postgresql":
        connection.execute(select(func.set_config("statement_timeout",
                                                  str(max(1, round(seconds * 1000))), True)))
    elif driver is not None:
        deadline = time.monotonic() + seconds
        driver.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
    try:
        yield
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) == QUERY_CANCELED or (
                dialect == "sqlite" and "interrupted" in str(exc.orig)):
            raise HistoryQueryTimeout(seconds) from exc
        raise
    finally:
        if driver is not None:
            driver.set_progress_handler(None, 0)


def query_history(engine: Engine, q: JobQuery,
                  timeout: float = 0.0) -> tuple[list[dict[str, Any]], str | None]:
    """One page of archived jobs, newest first, and the cursor of the next (None at end);
    cancelled with :class:`HistoryQueryTimeout` past ``timeout`` seconds (0: never)."""
    with engine.connect() as connection, time_limited(connection, timeout):
        rows = connection.execute(listing_statement(q, engine.dialect.name)).all()
    page = rows[:q.limit]
    items = [dict(row.record) for row in page]
    if len(rows) <= q.limit:
        return items, None
    last = page[-1]
    return items, encode_cursor(created_us(last.created_at), last.id)
