"""Subscriptions: what a client may subscribe to, and which rooms have subscribers anywhere.

Every monitor process announces the rooms its clients joined in ``P live:rooms`` (at
once on subscribe, then every few seconds), so the one relay emits only to rooms that
someone, on any monitor, listens to: one emit per set of rooms and tick instead of one
per job.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

import redis

from regiq_tasks.history.tokens import Role
from regiq_tasks.monitor.live.config import ROOM_TTL
from regiq_tasks.store.keys import ROOM_ALL, Keys, job_room, pipeline_room, type_room

MAX_ID = 255  # characters of a subscribed id or type
TRIM_AFTER = 3 * ROOM_TTL  # s: members older than this are removed from P live:rooms
ROOM_ROLE = Role.VIEWER  # the lowest role that may see job updates (every room, today)


class BadSubscription(ValueError):
    """A subscribe/unsubscribe payload that names no room."""


def room_of(payload: Any) -> str:
    """The room a ``subscribe`` payload names; raises BadSubscription otherwise.

    One of ``{"job_id": id}``, ``{"pipeline_id": id}`` (or ``{"root_id": id}``),
    ``{"type": t}``, ``{"all": true}``.
    """
    if not isinstance(payload, dict) or len(payload) != 1:
        raise BadSubscription("expected one of {job_id}, {pipeline_id} (or {root_id}), "
                              "{type} or {all: true}")
    (name, value), = payload.items()
    if name == "all":
        if value is not True:
            raise BadSubscription("all: expected true")
        return ROOM_ALL
    makers = {"job_id": job_room, "pipeline_id": pipeline_room, "root_id": pipeline_room,
              "type": type_room}
    if name not in makers:
        raise BadSubscription(f"{name}: not a subscription (job_id, pipeline_id, root_id, "
                              "type, all)")
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID:
        raise BadSubscription(f"{name}: expected a string of 1 to {MAX_ID} characters")
    return makers[name](value)


def may_see(role: Role, room: str) -> bool:
    """Whether a token of ``role`` may be in ``room`` (kept in one place for finer rules)."""
    return ROOM_ROLE.value in role.granted


def rooms_of(record: dict[str, Any]) -> list[str]:
    """Every room a job's updates go to."""
    rooms = [job_room(record["id"]), ROOM_ALL]
    if record.get("pipeline_id"):
        rooms.append(pipeline_room(record["pipeline_id"]))
    if record.get("type"):
        rooms.append(type_room(record["type"]))
    return rooms


class RoomRegistry:
    """This process's subscribed rooms, and the shared view of every process's rooms."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.key = keys.live_rooms
        self._members: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def join(self, sid: str, room: str) -> None:
        """Record ``sid`` in ``room`` and announce the room now."""
        with self._lock:
            self._members.setdefault(room, set()).add(sid)
        self.client.zadd(self.key, {room: time.time()})

    def leave(self, sid: str, room: str | None = None) -> None:
        """Forget ``sid`` in ``room`` (every room when None)."""
        with self._lock:
            for name in [room] if room else list(self._members):
                members = self._members.get(name)
                if members is not None:
                    members.discard(sid)
                    if not members:
                        del self._members[name]

    def rooms_of_sid(self, sid: str) -> list[str]:
        """The rooms ``sid`` is in."""
        with self._lock:
            return [room for room, members in self._members.items() if sid in members]

    def local_rooms(self) -> list[str]:
        """The rooms with a subscriber in this process."""
        with self._lock:
            return list(self._members)

    def announce(self) -> None:
        """Refresh this process's rooms in the shared set."""
        rooms = self.local_rooms()
        if rooms:
            now = time.time()
            self.client.zadd(self.key, {room: now for room in rooms})

    def live(self, rooms: Iterable[str]) -> set[str]:
        """Those of ``rooms`` that some process announced within the room TTL."""
        names = list(dict.fromkeys(rooms))
        if not names:
            return set()
        scores = self.client.zmscore(self.key, names)
        fresh = time.time() - ROOM_TTL
        return {name for name, score in zip(names, scores) if score is not None
                and score >= fresh}

    def trim(self) -> None:
        """Drop rooms nobody announced for a while."""
        self.client.zremrangebyscore(self.key, "-inf", time.time() - TRIM_AFTER)
