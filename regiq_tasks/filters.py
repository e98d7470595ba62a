"""Validated listing filters and the opaque keyset cursor shared by live and history listings.

Both listings order jobs newest first by ``(created_at, id)``. A cursor encodes the
``(created_at in µs, id)`` of the last item of a page; the next page holds the items
strictly after it in that order, so pages stay stable while new jobs arrive.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .states import JobStatus

MAX_LIMIT = 500
MAX_EPOCH = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second a datetime can hold
DEFAULT_LIMIT = 50


def to_epoch(value: datetime | str | float | int | None, name: str) -> float | None:
    """A ``datetime``, ISO-8601 string or epoch number as epoch seconds (naive = UTC)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected a datetime or ISO-8601 string, got {value!r}")
    if isinstance(value, (int, float)):
        if not 0 <= value <= MAX_EPOCH:
            raise ValueError(f"{name}: must lie between 1970-01-01 and 9999-12-31")
        return float(value)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name}: not an ISO-8601 date-time: {value!r}") from None
    if not isinstance(value, datetime):
        raise ValueError(f"{name}: expected a datetime or ISO-8601 string, got {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    ts = value.timestamp()
    if not 0 <= ts <= MAX_EPOCH:
        raise ValueError(f"{name}: must lie between 1970-01-01 and 9999-12-31, got {value}")
    return ts


def encode_cursor(created_us: int, job_id: str) -> str:
    """The opaque cursor pointing just after the job ``(created_us, job_id)``."""
    return base64.urlsafe_b64encode(f"{created_us}:{job_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """Decode a cursor made by :func:`encode_cursor`; ValueError naming ``cursor`` if bad."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode()
        us, job_id = raw.split(":", 1)
        if not job_id or not us.isdigit():
            raise ValueError
        return int(us), job_id
    except (ValueError, UnicodeError, binascii.Error):
        raise ValueError(f"cursor: not a cursor returned by this API: {cursor!r}") from None


def _optional_str(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 255:
        raise ValueError(f"{name}: expected a non-empty string of at most 255 characters")
    return value


@dataclass(frozen=True)
class JobQuery:
    """A validated job listing query."""

    status: JobStatus | None = None
    type: str | None = None
    worker: str | None = None
    pipeline_id: str | None = None
    name: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = DEFAULT_LIMIT
    after: tuple[int, str] | None = None

    @classmethod
    def build(cls, *, status: Any = None, type: Any = None, worker: Any = None,
              pipeline_id: Any = None, root_id: Any = None, name: Any = None,
              since: Any = None, until: Any = None, limit: Any = DEFAULT_LIMIT,
              cursor: Any = None) -> JobQuery:
        """Validate raw arguments; raise ValueError naming the bad parameter."""
        if status is not None:
            try:
                status = JobStatus(status)
            except ValueError:
                allowed = ", ".join(s.value for s in JobStatus)
                raise ValueError(f"status: {status!r} is not one of {allowed}") from None
        if pipeline_id is not None and root_id is not None and pipeline_id != root_id:
            raise ValueError("pipeline_id: conflicts with its alias root_id")
        pipeline = _optional_str(pipeline_id if pipeline_id is not None else root_id,
                                 "pipeline_id" if pipeline_id is not None else "root_id")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit: expected an integer from 1 to {MAX_LIMIT}, got {limit!r}")
        since_ts, until_ts = to_epoch(since, "since"), to_epoch(until, "until")
        if since_ts is not None and until_ts is not None and since_ts > until_ts:
            raise ValueError("since: must not be later than until")
        if cursor is not None and not isinstance(cursor, str):
            raise ValueError(f"cursor: expected a string, got {cursor!r}")
        return cls(status=status, type=_optional_str(type, "type"),
                   worker=_optional_str(worker, "worker"), pipeline_id=pipeline,
                   name=_optional_str(name, "name"), since=since_ts, until=until_ts,
                   limit=limit, after=decode_cursor(cursor) if cursor else None)
