"""The job record: the JSON shape shared by the Python API, REST, Socket.IO and history.

In Redis a job is a flat hash: scalar fields as strings, nested fields as JSON, times
as epoch seconds. :func:`record_from_hash` turns such a hash into the public record.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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


def record_from_hash(raw: Mapping[Any, Any]) -> dict[str, Any] | None:
    """Convert a job hash read from Redis into the public job record (None if empty)."""
    h = {(k.decode() if type(k) is bytes else str(k)):  # as_text, inlined: per field
         (v.decode() if type(v) is bytes else str(v)) for k, v in raw.items()}
    if not h.get("id"):
        return None
    rec: dict[str, Any] = {name: h.get(name) or None for name in STR_FIELDS}
    for name in FLOAT_FIELDS:
        rec[name] = float(h[name]) if h.get(name) else None
    for name in INT_FIELDS:
        rec[name] = int(h[name]) if h.get(name) else 0
    for name in TIME_FIELDS:
        rec[name] = iso(float(h[name])) if h.get(name) else None
    for name in JSON_FIELDS:
        rec[name] = json.loads(h[name]) if h.get(name) else None
    rec["metadata"] = rec["metadata"] or {}
    current = _number(h["progress_current"]) if h.get("progress_current") else None
    total = _number(h["progress_total"]) if h.get("progress_total") else None
    rec["progress"] = progress_block(current, total, h.get("progress_message") or None)
    return rec
