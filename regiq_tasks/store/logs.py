"""A job's kept log lines in Redis (``P joblog:<id>``, see ``keys.py``): append, read.

Lines are numbered from 0 in the order they were emitted (``seq``); the hash keeps a
contiguous run ``first .. next - 1`` of them, so ``first`` is also the number of lines
let go (``dropped``) and a position in the run is a stable cursor. Appends come from
the background writer, in the same pipelined round trip as the job's changes and
before them, so a job's lines are in Redis when its final status is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis

from regiq_tasks.store.keys import Keys
from regiq_tasks.store.scripts import LuaScript


@dataclass(frozen=True)
class LogAppend:
    """Lines of one job to append: JSON text, oldest first, after ``skipped`` lines its
    process let go without sending."""

    job_id: str
    lines: Sequence[str]
    skipped: int = 0


@dataclass(frozen=True)
class KeptLines:
    """Some of a job's kept lines: their JSON text, from position ``start`` up to ``end``
    (excluded); ``dropped`` earlier lines were let go and ``total`` were ever seen."""

    lines: list[str]
    start: int
    end: int
    dropped: int
    total: int


class JobLogStore:
    """Appends to and reads the kept log lines of jobs in one Redis."""

    def __init__(self, client: redis.Redis, keys: Keys, max_lines: int, max_bytes: int) -> None:
        self.client = client
        self.keys = keys
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self._append = LuaScript(client,
            resources.files(__package__).joinpath("logs.lua").read_text())

    def append(self, pipe: Any, entry: LogAppend) -> None:
        """Queue one append on ``pipe`` (a pipeline; the writer's batch)."""
        self._append(keys=[self.keys.job_logs(entry.job_id)],
                     args=[self.max_lines, self.max_bytes, entry.skipped, *entry.lines],
                     client=pipe)

    def exists(self, job_id: str) -> bool:
        """True while the job has a log hash in Redis."""
        return bool(self.client.exists(self.keys.job_logs(job_id)))

    def read(self, job_id: str, start: int, limit: int) -> KeptLines:
        """Up to ``limit`` kept lines from ``start`` (or the oldest kept, if later)."""
        key = self.keys.job_logs(job_id)
        nxt, first = (int(v or 0) for v in self.client.hmget(key, "next", "first"))
        begin = max(start, first)
        seqs = list(range(begin, min(nxt, begin + limit)))
        values: list[Any] = self.client.hmget(key, [str(s) for s in seqs]) if seqs else []
        # a line trimmed between the two reads is skipped: it counts as let go
        lines = [v.decode() for v in values if v is not None]
        return KeptLines(lines, begin, begin + len(seqs), first, nxt)


def kept_run(flat: Sequence[bytes]) -> KeptLines:
    """The kept run of one log hash read whole (HGETALL's flat field/value list)."""
    fields = dict(zip(flat[::2], flat[1::2]))
    first, nxt = int(fields.get(b"first", 0)), int(fields.get(b"next", 0))
    lines = [fields[str(s).encode()].decode() for s in range(first, nxt)
             if str(s).encode() in fields]
    return KeptLines(lines, first, nxt, first, nxt)
