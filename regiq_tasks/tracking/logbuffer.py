"""Log lines of the jobs running in this process, waiting for the background writer.

The capture handler (``logcapture.py``) adds a line in the job's own thread: a tuple
under a lock, nothing else, so the task never waits on Redis for a log line. The writer
thread drains the buffer before each batch, masks secrets (as in ``args_preview``),
encodes the lines as JSON and appends them in the batch's pipelined round trip. Each
job's waiting lines are bounded like its kept lines: beyond the bounds the oldest are
let go here and counted, so a job that logs in a tight loop while Redis is down cannot
grow the process.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field

from regiq_tasks.redact import mask_text
from regiq_tasks.store.logs import LogAppend
from regiq_tasks.store.record import iso

MAX_MESSAGE_CHARS = 8192  # a longer message (traceback included) is cut to this many characters
Line = tuple[float, str, str, str]  # (created, level name, logger name, message)


@dataclass
class Waiting:
    """One job's lines not yet sent, and how many earlier ones were let go unsent."""

    lines: deque[Line] = field(default_factory=deque)
    size: int = 0
    skipped: int = 0

    def trim(self, max_lines: int, max_bytes: int) -> None:
        """Let the oldest lines go until the bounds hold (the newest line always stays)."""
        lines = self.lines
        while len(lines) > 1 and (len(lines) > max_lines or self.size > max_bytes):
            self.size -= len(lines.popleft()[3])
            self.skipped += 1

    def to_append(self, job_id: str) -> LogAppend:
        """The lines as the store appends them: masked, as JSON."""
        return LogAppend(job_id, [encode_line(line) for line in self.lines], self.skipped)


def encode_line(line: Line) -> str:
    """One line as stored: ``{"at", "level", "logger", "message"}`` with secrets masked."""
    created, level, logger, message = line
    return json.dumps({"at": iso(created), "level": level, "logger": logger,
                       "message": mask_text(message)}, ensure_ascii=False,
                      separators=(",", ":"))


class PendingLogs:
    """The waiting lines of this process's jobs, by job id (thread-safe)."""

    def __init__(self, max_lines: int, max_bytes: int) -> None:
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self._jobs: dict[str, Waiting] = {}
        self._lock = threading.Lock()

    def add(self, job_id: str, line: Line) -> None:
        """Keep one line of a job for the next batch (the job's thread)."""
        with self._lock:
            waiting = self._jobs.get(job_id)
            if waiting is None:
                waiting = self._jobs[job_id] = Waiting()
            waiting.lines.append(line)
            waiting.size += len(line[3])
            if len(waiting.lines) > self.max_lines or waiting.size > self.max_bytes:
                waiting.trim(self.max_lines, self.max_bytes)

    def __bool__(self) -> bool:
        return bool(self._jobs)

    def drain(self) -> dict[str, Waiting]:
        """Take every waiting line (the writer thread, before a batch)."""
        with self._lock:
            jobs, self._jobs = self._jobs, {}
        return jobs

    def restore(self, drained: dict[str, Waiting]) -> None:
        """Put lines back in front after a failed batch, within the bounds again."""
        with self._lock:
            for job_id, earlier in drained.items():
                later = self._jobs.get(job_id)
                if later is not None and later.skipped:
                    # lines were let go after the earlier ones: only a suffix is kept
                    later.skipped += earlier.skipped + len(earlier.lines)
                    earlier = later
                elif later is not None:
                    earlier.lines.extend(later.lines)
                    earlier.size += later.size
                earlier.trim(self.max_lines, self.max_bytes)
                self._jobs[job_id] = earlier
