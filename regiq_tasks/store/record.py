"""The job record: the JSON shape shared by the Python API, REST, Socket.IO and history.

In Redis a job is a flat hash: scalar fields as strings, nested fields as JSON, times
as epoch seconds. :func:`record_from_hash` turns such a hash into the public record.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

# Hash fields holding JSON objects.
JSON_FIELDS = ("error", "cancel", "resources", "metadata")
# Hash fields holding epoch seconds, shown as ISO-8601 UTC.
TIME_FIELDS = ("created_at", "started_at", "finished_at")
FLOAT_FIELDS = ("eta_seconds", "rate_per_s", "queue_wait_s", "duration_s",
                "expected_duration")
INT_FIELDS = ("retries",)
STR_FIELDS = ("id", "name", "type", "status", "worker", "queue", "pipeline_id", "root_id",
              "parent_id", "group_id", "args_preview", "alert_severity", "retry_of",
              "retried_as", "retried_by")
PROGRESS_FIELDS = ("progress_current", "progress_total", "progress_message")


def iso(ts: float | None) -> str | None:
    """Epoch seconds as an ISO-8601 UTC string (None stays None)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def as_text(value: Any) -> str:
    """A Redis reply value (bytes or anything else) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _number(raw: str) -> float | int:
    value = float(raw)
    return int(value) if value.is_integer() and "." not in raw and "e" not in raw else value


def progress_block(current: float | None, total: float | None,
                   message: str | None) -> dict[str, Any] | None:
    """The record's ``progress`` object, with ``percent`` derived from current/total."""
    if current is None and total is None and message is None:
        return None
    percent = None
    if current is not None and total:
        percent = round(min(100.0, max(0.0, 100.0 * current / total)), 2)
    return {"current": current, "total": total, "percent": percent, "message": message}


# Every hash field the record is made of, in the order :func:`record_from_values` takes
# them (what the archiver's read asks Redis for with one HMGET per job).
RECORD_FIELDS = (*STR_FIELDS, *FLOAT_FIELDS, *INT_FIELDS, *TIME_FIELDS, *JSON_FIELDS,
                 *PROGRESS_FIELDS)


def _spans(*groups: Sequence[str]) -> list[slice]:
    """The slice of each group of fields in their concatenation."""
    spans, start = [], 0
    for names in groups:
        spans.append(slice(start, start + len(names)))
        start += len(names)
    return spans


_STR, _FLOAT, _INT, _TIME, _JSON, _PROGRESS = _spans(
    STR_FIELDS, FLOAT_FIELDS, INT_FIELDS, TIME_FIELDS, JSON_FIELDS, PROGRESS_FIELDS)


def record_from_hash(raw: Mapping[Any, Any]) -> dict[str, Any] | None:
    """Convert a job hash read from Redis into the public job record (None if empty)."""
    h = {(k.decode() if type(k) is bytes else str(k)): v for k, v in raw.items()}
    return record_from_values([h.get(name) for name in RECORD_FIELDS])


def record_from_values(raw: Sequence[Any]) -> dict[str, Any] | None:
    """The public job record from the hash's values of :data:`RECORD_FIELDS`, in that
    order (None or empty where a field is absent); None if the job has no id."""
    v = [x.decode() if type(x) is bytes else (x if x is None else str(x)) for x in raw]
    if not v[0]:
        return None
    rec: dict[str, Any] = {name: x or None for name, x in zip(STR_FIELDS, v[_STR])}
    for name, x in zip(FLOAT_FIELDS, v[_FLOAT]):
        rec[name] = float(x) if x else None
    for name, x in zip(INT_FIELDS, v[_INT]):
        rec[name] = int(x) if x else 0
    for name, x in zip(TIME_FIELDS, v[_TIME]):
        rec[name] = iso(float(x)) if x else None
    for name, x in zip(JSON_FIELDS, v[_JSON]):
        rec[name] = json.loads(x) if x else None
    rec["metadata"] = rec["metadata"] or {}
    current, total, message = v[_PROGRESS]
    rec["progress"] = progress_block(_number(current) if current else None,
                                     _number(total) if total else None, message or None)
    return rec
