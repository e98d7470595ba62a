"""``get_job_logs``: a job's kept log lines, oldest first, live or archived alike.

The live store answers while it holds the job (its record or its lines); after the job
left it, the history does. A cursor is a line's position (``seq``): stable while lines
are let go at the front, and the next page starts just after the last line shown. While
the job has not ended, ``next_cursor`` is always set, since more lines may come: a page
without items then means nothing new yet (the way a tail polls, as CloudWatch's
``nextForwardToken``); it is null once the job ended and its last line was read.
"""

from __future__ import annotations

import json
from typing import Any

from celery import current_app

from regiq_tasks.errors import JobNotFound, reachable
from regiq_tasks.history import repository
from regiq_tasks.history.logs import read_logs
from regiq_tasks.states import FINAL_STATUSES
from regiq_tasks.store.filters import (
    DEFAULT_LIMIT,
    limit_arg,
    opaque_cursor,
    read_cursor,
    text_arg,
)
from regiq_tasks.store.logs import KeptLines
from regiq_tasks.tracking.tracker import Tracker, get_tracker

CURSOR_TAG = "log:"  # a log cursor's position reads "log:<seq>"
MAX_SEQ_DIGITS = 18  # a position longer than this could not have come from a cursor


def encode_log_cursor(seq: int) -> str:
    """The opaque cursor of the line at position ``seq``."""
    return opaque_cursor(f"{CURSOR_TAG}{seq}")


def _position(text: str) -> int:
    digits = text.removeprefix(CURSOR_TAG)
    if digits == text or not digits.isascii() or not digits.isdigit() \
            or len(digits) > MAX_SEQ_DIGITS:
        raise ValueError(text)
    return int(digits)


def decode_log_cursor(cursor: Any) -> int:
    """The line position a log cursor holds; InvalidParameter naming ``cursor``."""
    return read_cursor(cursor, _position)


def _live(tracker: Tracker, job_id: str, start: int, limit: int) -> tuple[KeptLines, bool] | None:
    """The live store's lines and whether the job may log more; None if it holds neither
    the job nor lines of it."""
    status: Any = tracker.redis.hget(tracker.keys.job(job_id), "status")
    if status is None and not tracker.store.logs.exists(job_id):
        return None
    ended = status is None or bytes(status).decode() in FINAL_STATUSES
    return tracker.store.logs.read(job_id, start, limit), not ended


def _archived(tracker: Tracker, job_id: str, start: int, limit: int) -> KeptLines:
    engine = tracker.existing_engine
    if repository.get_job(engine, job_id) is None:
        raise JobNotFound(job_id)
    return read_logs(engine, job_id, start, limit)


def get_job_logs(job_id: str, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None,
                 app: Any = None) -> dict[str, Any]:
    """A job's kept log lines: ``{"items": [{"at", "level", "logger", "message"}],
    "next_cursor", "dropped"}``, oldest first; JobNotFound for an unknown job."""
    job_id = text_arg(job_id, "job_id")
    limit = limit_arg(limit)
    start = 0 if cursor is None else decode_log_cursor(cursor)
    tracker = get_tracker(app if app is not None else current_app._get_current_object())
    tracker.flush(timeout=1.0)  # this process's own queued lines first
    with reachable("get_job_logs"):
        live = _live(tracker, job_id, start, limit)
        kept, running = live if live is not None else (
            _archived(tracker, job_id, start, limit), False)
    more = kept.end < kept.total or running
    return {"items": [json.loads(line) for line in kept.lines],
            "next_cursor": encode_log_cursor(kept.end) if more else None,
            "dropped": kept.dropped}
