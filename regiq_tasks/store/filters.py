"""Validated listing filters and the opaque keyset cursor shared by live and history listings.

Both listings order jobs newest first by ``(created_at, id)``. A cursor encodes the
``(created_at in µs, id)`` of the last item of a page; the next page holds the items
strictly after it in that order, so pages stay stable while new jobs arrive.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from regiq_tasks.errors import InvalidParameter
from regiq_tasks.states import JobStatus

T = TypeVar("T")

MAX_LIMIT = 500
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)  # the earliest time a time argument may name
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)  # the last second a datetime holds
MAX_EPOCH = 253_402_300_799  # LATEST in epoch seconds
DEFAULT_LIMIT = 50
MAX_TEXT = 255  # characters of an id or a filter value
MAX_REASON = 1000  # characters of a cancel reason or a progress message
MAX_CURSOR_US = MAX_EPOCH * 1_000_000  # the largest created_at (µs) a cursor may hold
MIN_ID_PREFIX = 3  # characters an id prefix needs: shorter ones match too much to be a search


def text_arg(value: Any, name: str, limit: int = MAX_TEXT) -> str:
    """A non-empty string of at most ``limit`` characters without NUL; else InvalidParameter.

    NUL is refused here because no store can keep it (PostgreSQL text refuses it): it is
    bad input, never a reason to blame a dependency.
    """
    if not isinstance(value, str) or not value or len(value) > limit:
        raise InvalidParameter(name, f"expected a non-empty string of at most {limit} "
                                     f"characters, got {_shown(value)}")
    if "\x00" in value:
        raise InvalidParameter(name, "must not contain a NUL character")
    return value


def limit_arg(value: Any, name: str = "limit", maximum: int = MAX_LIMIT) -> int:
    """A page size: an integer from 1 to ``maximum``; else InvalidParameter naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise InvalidParameter(name, f"expected an integer from 1 to {maximum}, "
                                     f"got {_shown(value)}")
    return value


def prose_arg(value: Any, name: str, limit: int, *, required: bool,
              strip: bool = False) -> str | None:
    """Free text (a reason, a note, who did it): :func:`text_arg` that is not blank,
    stripped of surrounding white space if ``strip``; None when absent and optional."""
    if value is None and not required:
        return None
    text = text_arg(value, name, limit)
    if not text.strip():
        raise InvalidParameter(name, "must not be blank")
    return text.strip() if strip else text


def _shown(value: Any) -> str:
    """A bounded repr of a bad value for an error message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def to_datetime(value: Any, name: str) -> datetime | None:
    """The one reader of a time argument: a ``datetime`` or an ISO-8601 string as an aware
    UTC datetime (naive ones and strings without an offset are read as UTC).

    Bounds, for every reader (live and history listings, alerts, the REST schemas):
    :data:`EARLIEST` (no job lives before the epoch) to :data:`LATEST` (the last second a
    ``datetime`` can hold); outside them, or unreadable: InvalidParameter naming ``name``.
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())  # 3.11+ reads a "Z" suffix
        except ValueError:
            raise InvalidParameter(name, f"not an ISO-8601 date-time: {_shown(value)}") from None
    if not isinstance(value, datetime):
        raise InvalidParameter(name, f"expected a datetime or ISO-8601 string, got "
                                     f"{_shown(value)}")
    moment = value if value.utcoffset() is not None else value.replace(tzinfo=UTC)
    if not EARLIEST <= moment <= LATEST:  # aware comparisons never overflow
        raise InvalidParameter(name, f"must lie between 1970-01-01 and 9999-12-31, got {value}")
    return moment.astimezone(UTC)


def to_epoch(value: datetime | str | float | None, name: str) -> float | None:
    """:func:`to_datetime` as epoch seconds; an epoch number is taken as it is (in bounds)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not 0 <= value <= MAX_EPOCH:
            raise InvalidParameter(name, "must lie between 1970-01-01 and 9999-12-31")
        return float(value)
    moment = to_datetime(value, name)
    return None if moment is None else moment.timestamp()


def opaque_cursor(position: str) -> str:
    """The one cursor codec: a listing's position (its own text) as an opaque cursor."""
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


def read_cursor(cursor: Any, parse: Callable[[str], T]) -> T:
    """The position an :func:`opaque_cursor` holds, read by the listing's ``parse``.

    Anything that could not have come from ``opaque_cursor`` (not a string, not base64
    of UTF-8 text, a position ``parse`` refuses with a ValueError) is InvalidParameter
    naming ``cursor``.
    """
    if not isinstance(cursor, str):
        raise InvalidParameter("cursor", f"expected a string, got {_shown(cursor)}")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return parse(base64.urlsafe_b64decode(padded.encode("ascii")).decode())
    except (ValueError, UnicodeError, binascii.Error):
        raise InvalidParameter("cursor", f"not a cursor returned by this API: "
                                         f"{_shown(cursor)}") from None


def encode_cursor(created_us: int, job_id: str) -> str:
    """The opaque cursor pointing just after the job ``(created_us, job_id)``."""
    return opaque_cursor(f"{created_us}:{job_id}")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """Decode a cursor made by :func:`encode_cursor`; InvalidParameter naming ``cursor``."""
    return read_cursor(cursor, _job_position)


def _job_position(text: str) -> tuple[int, str]:
    """``"<created_us>:<id>"`` as a pair; ValueError for a number beyond the last
    representable time or an id no job can have (NUL, too long)."""
    us, job_id = text.split(":", 1)
    if not us.isascii() or not us.isdigit() or len(us) > len(str(MAX_CURSOR_US)):
        raise ValueError(us)
    text_arg(job_id, "cursor")
    if int(us) > MAX_CURSOR_US:
        raise ValueError(us)
    return int(us), job_id


def _optional_str(value: Any, name: str) -> str | None:
    return None if value is None else text_arg(value, name)


def id_prefix_arg(value: Any) -> str | None:
    """The ``id_prefix`` filter: :func:`text_arg` of at least :data:`MIN_ID_PREFIX`
    characters without surrounding white space; None when absent."""
    if value is None:
        return None
    prefix = text_arg(value, "id_prefix")
    if len(prefix) < MIN_ID_PREFIX or prefix != prefix.strip():
        raise InvalidParameter("id_prefix", f"expected at least {MIN_ID_PREFIX} characters "
                                            f"without surrounding spaces, got {_shown(value)}")
    return prefix


@dataclass(frozen=True)
class JobQuery:
    """A validated job listing query."""

    status: JobStatus | None = None
    type: str | None = None
    worker: str | None = None
    pipeline_id: str | None = None
    name: str | None = None
    id_prefix: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = DEFAULT_LIMIT
    after: tuple[int, str] | None = None

    @classmethod
    def build(cls, *, status: Any = None, type: Any = None, worker: Any = None,
              pipeline_id: Any = None, root_id: Any = None, name: Any = None,
              id_prefix: Any = None, since: Any = None, until: Any = None,
              limit: Any = DEFAULT_LIMIT, cursor: Any = None) -> JobQuery:
        """Validate raw arguments; raise ValueError naming the bad parameter."""
        if status is not None:
            try:
                status = JobStatus(status)
            except ValueError:
                allowed = ", ".join(s.value for s in JobStatus)
                raise InvalidParameter("status", f"{_shown(status)} is not one of "
                                                 f"{allowed}") from None
        if pipeline_id is not None and root_id is not None and pipeline_id != root_id:
            raise InvalidParameter("pipeline_id", "conflicts with its alias root_id")
        pipeline = _optional_str(pipeline_id if pipeline_id is not None else root_id,
                                 "pipeline_id" if pipeline_id is not None else "root_id")
        limit_arg(limit)
        since_ts, until_ts = to_epoch(since, "since"), to_epoch(until, "until")
        if since_ts is not None and until_ts is not None and since_ts > until_ts:
            raise InvalidParameter("since", "must not be later than until")
        if cursor is not None and not isinstance(cursor, str):
            raise InvalidParameter("cursor", f"expected a string, got {_shown(cursor)}")
        return cls(status=status, type=_optional_str(type, "type"),
                   worker=_optional_str(worker, "worker"), pipeline_id=pipeline,
                   name=_optional_str(name, "name"), id_prefix=id_prefix_arg(id_prefix),
                   since=since_ts, until=until_ts,
                   limit=limit, after=decode_cursor(cursor) if cursor else None)
