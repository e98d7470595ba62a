"""The job record: the JSON shape shared by the Python API, REST, Socket.IO and history.

In Redis a job is a flat hash: scalar fields as strings, nested fields as JSON, times
as epoch seconds. :func:`record_from_hash` turns such a hash into the public record.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from regiq_tasks.jsoncodec import loads

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
    """Epoch seconds as an ISO-8601 UTC string (None stays None), to the microsecond as
    ``datetime.fromtimestamp`` rounds it (half to even). The date and time of the whole
    second come from a small cache: jobs finish in bursts, and this runs three times for
    each job the archiver moves."""
    if ts is None:
        return None
    fraction, whole = math.modf(ts)
    if ts < 0 or not math.isfinite(ts):
        return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
    micro = round(fraction * 1e6)
    if micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    second = _second(int(whole))
    return f"{second}.{micro:06d}Z" if micro else second + "Z"


@functools.lru_cache(maxsize=1024)
def _second(whole: int) -> str:
    """The ISO-8601 date and time, without zone, of a whole epoch second."""
    return datetime.fromtimestamp(whole, UTC).replace(tzinfo=None).isoformat()


def as_text(value: Any, errors: str = "strict") -> str:
    """A Redis reply value (bytes or anything else) as text; ``errors`` as ``bytes.decode``
    takes it ("replace": bytes that are not UTF-8 as U+FFFD)."""
    return value.decode("utf-8", errors) if isinstance(value, bytes) else str(value)


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
    return record_from_fields({as_text(k, "replace"): as_text(v, "replace")
                               for k, v in raw.items()})


def record_from_flat_json(text: bytes) -> dict[str, Any] | None:
    """The public job record from a job hash sent as JSON text, a flat ``[field, value,
    ...]`` array (``archive_read.lua``); None if the hash was empty. A value that is not
    UTF-8 is read with U+FFFD in place of its bad bytes, as ``bytes.decode`` would fail."""
    try:
        flat = loads(text)
    except ValueError:
        flat = loads(text.decode("utf-8", "replace"))
    return record_from_fields(dict(zip(flat[::2], flat[1::2]))) if flat else None


def record_from_fields(h: Mapping[str, str]) -> dict[str, Any] | None:
    """The public job record from a job hash with text fields and values; None if the job
    has no id (an empty or expired hash)."""
    get = h.get
    if not get("id"):
        return None
    rec: dict[str, Any] = {name: get(name) or None for name in STR_FIELDS}
    for name in FLOAT_FIELDS:
        x = get(name)
        rec[name] = float(x) if x else None
    for name in INT_FIELDS:
        x = get(name)
        rec[name] = int(x) if x else 0
    for name in TIME_FIELDS:
        x = get(name)
        rec[name] = iso(float(x)) if x else None
    for name in JSON_FIELDS:
        x = get(name)
        rec[name] = loads(x) if x else None
    rec["metadata"] = rec["metadata"] or {}
    current, total, message = map(get, PROGRESS_FIELDS)
    rec["progress"] = progress_block(_number(current) if current else None,
                                     _number(total) if total else None, message or None)
    return rec
