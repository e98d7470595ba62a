"""Archived jobs' log lines in ``job_logs``: written with their job, read by position.

The archiver replaces a job's lines in the transaction that upserts its history row
(delete, then insert: a redelivered job writes the same lines again, harmlessly).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select

from regiq_tasks.history.models import JOB_LOGS, LEVEL_LENGTH, NAME_LENGTH
from regiq_tasks.store.filters import to_datetime
from regiq_tasks.store.logs import KeptLines


def _row(job_id: str, seq: int, text: str) -> dict[str, Any]:
    """The ``job_logs`` row of one stored line (JSON as the live store keeps it)."""
    line = json.loads(text)
    return {"job_id": job_id, "seq": seq, "at": to_datetime(line.get("at"), "at"),
            "level": str(line.get("level") or "")[:LEVEL_LENGTH],
            "logger": str(line.get("logger") or "")[:NAME_LENGTH],
            "message": str(line.get("message") or "")}


def replace_logs(connection: Connection, kept: Mapping[str, KeptLines]) -> int:
    """Write the kept lines of these jobs in place of any archived before; rows written."""
    if not kept:
        return 0
    connection.execute(delete(JOB_LOGS).where(JOB_LOGS.c.job_id.in_(list(kept))))
    rows = [_row(job_id, run.start + i, text) for job_id, run in kept.items()
            for i, text in enumerate(run.lines)]
    if rows:
        connection.execute(insert(JOB_LOGS), rows)
    return len(rows)


def read_logs(engine: Engine, job_id: str, start: int, limit: int) -> KeptLines:
    """Up to ``limit`` archived lines of a job from ``start`` (as the live store's read)."""
    t = JOB_LOGS
    with engine.connect() as connection:
        first, last = connection.execute(
            select(func.min(t.c.seq), func.max(t.c.seq)).where(t.c.job_id == job_id)).one()
        rows = connection.execute(
            select(t.c.seq, t.c.at, t.c.level, t.c.logger, t.c.message)
            .where(t.c.job_id == job_id, t.c.seq >= start)
            .order_by(t.c.seq).limit(limit)).all()
    lines = [json.dumps({"at": r.at.isoformat().replace("+00:00", "Z") if r.at else None,
                         "level": r.level, "logger": r.logger, "message": r.message})
             for r in rows]
    begin = max(start, first or 0)
    end = rows[-1].seq + 1 if rows else begin
    return KeptLines(lines, begin, end, first or 0, 0 if last is None else last + 1)
