"""The relay: Redis event stream in, coalesced Socket.IO emits out, one relay at a time.

Every monitor process runs one :class:`Relay` loop (a Flask-SocketIO background task).
The loop announces the process's subscribed rooms; the process holding the lease
``P lock:live-relay`` also reads ``P events`` (XREAD BLOCK from its last id) and, every
tick, emits the fresh records of the jobs that changed to the rooms that have
subscribers. The emits go through the Socket.IO message queue, so clients of every
monitor receive them. The last id is kept in ``P live:relay-last-id`` after each tick: a
relay that takes over (after a crash, a restart or a lost lease) resumes after it and
misses nothing still in the stream. When Redis comes back empty, the relay resumes
after its own position and follows a stream recreated with older ids (``_resync``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from itertools import chain
from typing import Any

import redis

from regiq_tasks.errors import StoreUnavailable
from regiq_tasks.monitor.live.coalesce import Coalescer, Sendable
from regiq_tasks.monitor.live.config import ROOM_REFRESH, LiveConfig
from regiq_tasks.monitor.live.metrics import HealthBroadcast, MetricsReader
from regiq_tasks.monitor.live.rooms import RoomRegistry, rooms_of
from regiq_tasks.predict.annotate import annotate_jobs
from regiq_tasks.states import FINAL_STATUSES
from regiq_tasks.store import LiveStore
from regiq_tasks.store.keys import RELAY_LOCK, Keys
from regiq_tasks.store.lease import Lease
from regiq_tasks.store.record import as_text
from regiq_tasks.tracking.tracker import get_tracker

logger = logging.getLogger(__name__)

READ_COUNT = 1000  # stream entries per XREAD
IDLE_BLOCK = 0.1  # s: longest wait for events while nothing is pending (stop() latency)
ERROR_BACKOFF = 1.0  # s to wait after Redis failed
JOIN_REPLAY_S = 30.0  # s: a relay leading this soon after its start relays from its start
TRIM_INTERVAL = 30.0  # s between two trims of stale rooms (by the relay holder)
# What a progress-only update carries (the rest of the record did not change).
COMPACT_FIELDS = ("id", "status", "progress", "eta_seconds", "rate_per_s")
FINALS_KEPT = 20_000  # jobs whose final record was emitted, remembered to emit it once
# (the final event follows its record within a tick or two: 20,000 covers seconds at
# thousands of jobs a second, and keeps a monitor's memory flat, bench_monitor_memory.py)


class Relay:
    """The live loop of one monitor process."""

    def __init__(self, server: Any, store: LiveStore, keys: Keys, config: LiveConfig,
                 registry: RoomRegistry, celery_app: Any, may_lead: bool = True) -> None:
        self.server = server
        self.store = store
        self.client: redis.Redis = store.client
        self.keys = keys
        self.config = config
        self.registry = registry
        self.may_lead = may_lead
        self.lease = Lease(self.client, keys.lock(RELAY_LOCK), config.lease_ttl)
        self.celery_app = celery_app
        self.metrics = MetricsReader(celery_app)
        self.health = HealthBroadcast(
            celery_app, lambda doc: server.emit("health", doc, namespace="/"))
        self.coalescer = Coalescer(config.max_rate, config.tick)
        self.ticks = 0
        self.last_read = ""
        self._persisted = ""
        self._finals: OrderedDict[str, None] = OrderedDict()  # final records emitted
        self._started = (time.monotonic(), self._newest())  # where this process joined
        self._stop = threading.Event()
        self._due = {"announce": 0.0, "lease": 0.0, "tick": 0.0, "metrics": 0.0, "trim": 0.0,
                     "health": 0.0}

    @property
    def leading(self) -> bool:
        """True while this process holds the relay lease."""
        return self.lease.held

    def run(self) -> None:
        """Loop until :meth:`stop`; never raises."""
        while not self._stop.is_set():
            try:
                self.step()
            except (redis.RedisError, StoreUnavailable) as exc:
                logger.warning("regiq live relay: Redis unavailable (%s); retrying", exc)
                self.lease.held = False
                self._due["announce"] = 0.0  # it may come back empty: rooms first
                self._stop.wait(ERROR_BACKOFF)
            except Exception:
                logger.exception("regiq live relay: unexpected error; retrying")
                self._stop.wait(ERROR_BACKOFF)
        try:
            self.lease.release()
        except redis.RedisError:
            pass

    def stop(self) -> None:
        """Ask the loop to end (it releases the lease on its way out)."""
        self._stop.set()

    def _due_now(self, name: str, now: float, interval: float) -> bool:
        if now < self._due[name]:
            return False
        self._due[name] = now + interval
        return True

    def step(self) -> None:
        """One turn: announce rooms, keep or take the lease, relay for one tick."""
        now = time.monotonic()
        if self._due_now("announce", now, ROOM_REFRESH):
            self.registry.announce()
        if self.may_lead and self._due_now("lease", now, self.config.lease_ttl / 3):
            was_leading = self.leading
            if self.lease.hold() and not was_leading:
                self._take_over()
            elif self.leading:
                self._resync()
        if not self.leading:
            wake = min(self._due["announce"], self._due["lease"]) if self.may_lead \
                else self._due["announce"]
            self._stop.wait(max(0.01, wake - now))
            return
        # Wait for events only as long as nothing is waiting to be sent; a change that
        # arrives after a quiet spell is sent at once, later ones at the next tick.
        until = self._due["tick"] if len(self.coalescer) else now + IDLE_BLOCK
        self._read(max(1, int((until - now) * 1000)))
        now = time.monotonic()
        if len(self.coalescer) and now >= self._due["tick"]:
            self.flush(now)
        if self._due_now("metrics", now, self.config.metrics_interval):
            self.server.emit("metrics", self.metrics.read(), namespace="/")
        if self._due_now("health", now, self.config.health_interval):
            self.health.start()
        if self._due_now("trim", now, TRIM_INTERVAL):
            self.registry.trim()

    def _take_over(self) -> None:
        """Start relaying: resume after the persisted id, else after our own position
        (Redis lost the persisted one: it came back empty), else from the stream's end."""
        saved: Any = self.client.get(self.keys.relay_last_id)
        if saved:
            self.last_read = saved.decode()
        elif not self.last_read:
            started_at, started_from = self._started
            recent = started_from and time.monotonic() - started_at < JOIN_REPLAY_S
            # a relay taking over soon after its start relays what its first clients'
            # jobs wrote meanwhile (its thread may first run late on a busy machine)
            self.last_read = started_from if recent else (self._newest() or "0-0")
        self._resync()
        self._persisted = self.last_read
        self.coalescer = Coalescer(self.config.max_rate, self.config.tick)
        logger.info("regiq live relay: relaying from %s", self.last_read)

    def _newest(self) -> str:
        """Id of the event stream's newest entry ("0-0" if empty, "" if unreadable)."""
        try:
            newest: Any = self.client.xrevrange(self.keys.events, "+", "-", count=1)
        except redis.RedisError:
            return ""
        return as_text(newest[0][0]) if newest else "0-0"

    def _resync(self) -> None:
        """Follow a stream that Redis lost (it came back empty) instead of waiting past it."""
        try:
            info: Any = self.client.xinfo_stream(self.keys.events)
            newest = as_text(info["last-generated-id"])
        except redis.ResponseError:  # no such key: every entry from now on is new
            newest = "0-0"
        if _id_tuple(newest) < _id_tuple(self.last_read):
            logger.warning("regiq live relay: the event stream restarted behind %s (Redis "
                           "came back empty?); relaying from %s", self.last_read, newest)
            self.last_read = newest

    def _read(self, block_ms: int) -> None:
        reply: Any = self.client.xread({self.keys.events: self.last_read}, count=READ_COUNT,
                                  block=block_ms)
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                self._note(entry_id.decode(), fields)

    def _note(self, entry_id: str, fields: dict[bytes, bytes]) -> None:
        self.last_read = entry_id
        job_id = fields.get(b"id", b"").decode()
        if not job_id:
            return
        try:
            data = json.loads(fields.get(b"data") or b"{}")
        except ValueError:
            data = {}
        changed = frozenset(data) if isinstance(data, dict) else frozenset()
        self.coalescer.add(entry_id, job_id, fields.get(b"status", b"").decode(), changed)

    def flush(self, now: float | None = None) -> int:
        """Emit what is due now; returns the number of records emitted.

        Ticks are numbered by the clock (``now // tick``), at most one flush per number,
        so that the coalescer's rate window of ``1 s / tick`` ticks is one second however
        irregularly the flushes come.
        """
        now = time.monotonic() if now is None else now
        tick = self.config.tick
        self.ticks = max(self.ticks + 1, int(now // tick))
        self._due["tick"] = (self.ticks + 1) * tick
        sendables = self.coalescer.take(self.ticks)
        emitted = self._emit(sendables) if sendables else 0
        resume = self.coalescer.resume_after(self.last_read)
        if resume != self._persisted and self.lease.held:
            self.client.set(self.keys.relay_last_id, resume)
            self._persisted = resume
        return emitted

    def _emit(self, sendables: list[Sendable]) -> int:
        records = self.store.get_many([s.job_id for s in sendables])
        found = [(s, r) for s, r in zip(sendables, records)
                 if r is not None and self._first_final(s.job_id, r)]
        full = [r for s, r in found if s.full]
        if full:  # the same record as REST: with its predictions (aggregates cached)
            annotate_jobs(get_tracker(self.celery_app), full)
        targets = {s.job_id: rooms_of(r) for s, r in found}
        live = self.registry.live(chain.from_iterable(targets.values()))
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for sendable, record in found:
            rooms = tuple(sorted(r for r in targets[sendable.job_id] if r in live))
            if rooms:
                passed = [{"id": sendable.job_id, "status": status}
                          for status in sendable.statuses if status != record["status"]]
                if not sendable.full:
                    record = {name: record[name] for name in COMPACT_FIELDS}
                groups.setdefault(rooms, []).extend([*passed, record])
        for rooms, items in groups.items():
            if len(items) == 1:
                self.server.emit("job_update", items[0], to=list(rooms), namespace="/")
            else:
                self.server.emit("job_updates", items, to=list(rooms), namespace="/")
        return sum(len(items) for items in groups.values())


    def _first_final(self, job_id: str, record: dict[str, Any]) -> bool:
        """False for a final record already emitted: the record read at one tick may be
        final before its final event arrives, and the final state is sent once."""
        if record["status"] not in FINAL_STATUSES:
            return True
        if job_id in self._finals:
            return False
        self._finals[job_id] = None
        if len(self._finals) > FINALS_KEPT:
            self._finals.popitem(last=False)
        return True


def _id_tuple(entry_id: str) -> tuple[int, int]:
    """A stream entry id as a comparable (ms, sequence) pair."""
    ms, _, seq = (entry_id or "0-0").partition("-")
    return int(ms), int(seq or 0)
