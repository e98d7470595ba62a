"""History retention: one worker at a time deletes ``job_history`` rows created more than
``history_retention_days`` ago (0 keeps everything), in small batches.

Each batch is one short transaction that deletes at most :data:`BATCH_ROWS` rows found
through ``ix_job_history_created_at_id`` (oldest first), so the archiver's upserts and
the readers never wait on it for more than a moment; a pass stops after
:data:`PASS_SECONDS` and the next one carries on :data:`INTERVAL` s later, so a large
backlog cannot hold the housekeeping thread (or its leases) for long. Alerts live in
their own table and are never deleted here. The duty runs under the lease
``P lock:history-retention`` (``store/keys.py``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, select

from regiq_tasks.history.models import JOB_HISTORY, JOB_LOGS
from regiq_tasks.hooks import Duty, Hooks
from regiq_tasks.store.keys import RETENTION_LOCK

logger = logging.getLogger(__name__)

BATCH_ROWS = 1000  # rows deleted per transaction
PASS_SECONDS = 2.0  # s: a pass stops starting batches after this long
INTERVAL = 30.0  # s between two passes


@dataclass(frozen=True)
class Purged:
    """What one pass did: rows deleted, batches (transactions) run, whether it caught up."""

    deleted: int
    batches: int
    done: bool


def delete_before(engine: Engine, cutoff: datetime, *, batch: int = BATCH_ROWS,
                  max_seconds: float = PASS_SECONDS) -> Purged:
    """Delete history rows created before ``cutoff``, ``batch`` rows per transaction,
    until none is left or ``max_seconds`` have passed."""
    t = JOB_HISTORY
    oldest = select(t.c.id).where(t.c.created_at < cutoff).order_by(t.c.created_at).limit(batch)
    deadline = time.monotonic() + max_seconds
    deleted = batches = 0
    while True:
        with engine.begin() as connection:  # the jobs and their log lines, together
            ids = list(connection.execute(oldest).scalars())
            count = 0
            if ids:  # no cascade needed: SQLite does not enforce foreign keys here
                connection.execute(delete(JOB_LOGS).where(JOB_LOGS.c.job_id.in_(ids)))
                count = connection.execute(delete(t).where(t.c.id.in_(ids))).rowcount
        deleted, batches = deleted + count, batches + 1
        if count < batch:
            return Purged(deleted, batches, True)
        if time.monotonic() >= deadline:
            return Purged(deleted, batches, False)


def retention_cutoff(days: int, now: datetime | None = None) -> datetime | None:
    """The creation time before which rows go, or None when ``days`` is 0 (keep all)."""
    if days <= 0:
        return None
    return (now or datetime.now(UTC)) - timedelta(days=days)


def retention_duty(tracker: Any) -> Purged | None:
    """The duty: one pass over the rows past the retention (None when it keeps all)."""
    cutoff = retention_cutoff(tracker.settings.history_retention_days)
    if cutoff is None:
        return None
    tracker.migrate()  # as the archiver: the worker's housekeeping brings the schema up
    purged = delete_before(tracker.engine, cutoff)
    if purged.deleted:
        logger.info("regiq: history retention deleted %d job(s) created before %s "
                    "in %d batch(es)", purged.deleted, cutoff.isoformat(), purged.batches)
    return purged


def register(hooks: Hooks) -> None:
    """Subscribe history retention: its duty under its own lease."""
    hooks.duties.append(Duty(RETENTION_LOCK, lambda _settings: INTERVAL, retention_duty))
