"""Which changed jobs the relay sends at a tick: coalesced, and rate-limited per job.

Pure bookkeeping, no I/O. Events from the stream are :meth:`Coalescer.add`-ed as they
are read; at each tick :meth:`Coalescer.take` returns the jobs to send now, in the order
of their latest change. A job whose events only moved its progress is sent at most
``max_rate`` times in any window of one second's worth of ticks, and at least
``window / max_rate - 1`` ticks after its previous send (later changes wait, and the fresh
record read when the window allows carries them all); a status change, a
cancel request or an error is sent at the next tick whatever the rate. Ticks are never
early, so a window of ticks spans at least a second. Counting in ticks, not in clock
time, keeps a job that changes at exactly ``max_rate`` from being held back by jitter.
Every client receives each job at most once per tick, so the per-job limit is a
per-client limit.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from regiq_tasks.states import FINAL_STATUSES
from regiq_tasks.tracking.transitions import PROGRESS_FLUSH_FIELDS

URGENT_FIELDS = frozenset({"cancel", "error"})  # changes that are never held back
WINDOW = 1.0  # s: the rate window (counted in ticks)
MAX_KNOWN = 20_000  # jobs whose last status is remembered (oldest forgotten first; a
#                     forgotten one only costs an extra send of its next change)


@dataclass
class Pending:
    """A job changed since it was last sent."""

    first_event: str  # stream id of its oldest unsent event
    urgent: bool = False
    full: bool = False  # something besides progress changed: send the whole record
    statuses: list[str] = field(default_factory=list)  # transitions seen, in order


@dataclass
class Sendable:
    """A job to send now: its id, the statuses it passed through since last sent, and
    whether more than its progress changed."""

    job_id: str
    statuses: list[str]
    full: bool = True


class Coalescer:
    """Per-job coalescing and rate limiting of the relay's updates."""

    def __init__(self, max_rate: float, tick: float) -> None:
        self.max_rate = max_rate
        self.window = max(1, round(WINDOW / tick))  # ticks per rate window
        # ... and ticks between two progress sends of a job: spread over the window
        # rather than a burst of max_rate consecutive ticks; one tick less than an even
        # spread, so a job reporting at exactly max_rate is not held back by jitter
        self.spacing = max(1, int(self.window / max_rate) - 1) if max_rate > 0 \
            else self.window
        self._pending: dict[str, Pending] = {}
        self._sent: dict[str, deque[int]] = {}
        self._status: dict[str, str] = {}

    def add(self, event_id: str, job_id: str, status: str, changed: frozenset[str]) -> None:
        """Note one stream event: ``changed`` are the fields it wrote."""
        pending = self._pending.pop(job_id, None) or Pending(event_id)
        self._pending[job_id] = pending  # re-inserted: dict order = order of latest change
        known = self._status.get(job_id)
        if status and status != known:
            pending.statuses.append(status)
            pending.urgent = True
            self._remember(job_id, status)
        if changed & URGENT_FIELDS or status in FINAL_STATUSES:
            pending.urgent = True
        if pending.urgent or not changed <= PROGRESS_FLUSH_FIELDS:  # progress only: compact
            pending.full = True

    def _remember(self, job_id: str, status: str) -> None:
        self._status.pop(job_id, None)
        self._status[job_id] = status
        if len(self._status) > MAX_KNOWN:
            del self._status[next(iter(self._status))]

    def take(self, tick: int) -> list[Sendable]:
        """The jobs to send at tick number ``tick`` (their sends count against the rate)."""
        out: list[Sendable] = []
        for job_id, pending in list(self._pending.items()):
            sent = self._sent.get(job_id)
            while sent and sent[0] <= tick - self.window:
                sent.popleft()
            if not pending.urgent and sent and (len(sent) >= self.max_rate
                                                or tick - sent[-1] < self.spacing):
                continue
            del self._pending[job_id]
            self._sent.setdefault(job_id, deque()).append(tick)
            out.append(Sendable(job_id, pending.statuses, pending.full))
            if self._status.get(job_id) in FINAL_STATUSES:
                self._status.pop(job_id, None)
        self._forget_idle(tick)
        return out

    def _forget_idle(self, tick: int) -> None:
        idle = [j for j, sent in self._sent.items()
                if j not in self._pending and (not sent or sent[-1] <= tick - self.window)]
        for job_id in idle:
            del self._sent[job_id]

    def resume_after(self, last_read: str) -> str:
        """The stream id to resume from so that no held-back change is lost."""
        if not self._pending:
            return last_read
        return previous_id(min((p.first_event for p in self._pending.values()), key=_id_key))

    def __len__(self) -> int:
        return len(self._pending)


def _id_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def previous_id(stream_id: str) -> str:
    """The largest stream id below ``stream_id`` (XREAD returns entries after an id)."""
    ms, seq = _id_key(stream_id)
    if seq:
        return f"{ms}-{seq - 1}"
    return f"{ms - 1}-{2**64 - 1}" if ms else "0-0"
