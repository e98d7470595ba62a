"""Open Socket.IO connections and their tokens, checked again every few seconds.

A token revoked, or given a lower role, after a client connected must stop working on
that connection too, as it does at once on the REST API. Each monitor process keeps,
per connection, the SHA-256 of its token and the principal it stood for, and a
:class:`TokenWatch` loop re-checks them all in one query every ``REGIQ_LIVE_TOKEN_RECHECK``
seconds (2 s): a token gone (revoked, deleted) closes its connections; a changed role
leaves the rooms the new role may not see and is told to the client in an ``auth``
event. An unreachable database leaves the connections as they are until the next check.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from regiq_tasks.errors import StoreUnavailable
from regiq_tasks.history.tokens import Principal
from regiq_tasks.monitor.live.rooms import RoomRegistry, may_see

logger = logging.getLogger(__name__)

NAMESPACE = "/"
REVOKED = {"error": {"code": "unauthorized", "message": "the token was revoked",
                     "details": None}}


@dataclass(frozen=True)
class Session:
    """One connection's token (as its SHA-256) and who it stood for at the last check."""

    digest: str
    principal: Principal


def auth_event(principal: Principal) -> dict[str, Any]:
    """The ``auth`` event of a connection: its token's name and role (as ``/auth/whoami``)."""
    return {"name": principal.name, "role": principal.role.value,
            "roles": principal.role.granted}


class Sessions:
    """The open connections of this process, by Socket.IO sid."""

    def __init__(self) -> None:
        self._by_sid: dict[str, Session] = {}
        self._lock = threading.Lock()

    def add(self, sid: str, digest: str, principal: Principal) -> None:
        with self._lock:
            self._by_sid[sid] = Session(digest, principal)

    def get(self, sid: str) -> Session | None:
        with self._lock:
            return self._by_sid.get(sid)

    def remove(self, sid: str) -> None:
        with self._lock:
            self._by_sid.pop(sid, None)

    def snapshot(self) -> dict[str, Session]:
        with self._lock:
            return dict(self._by_sid)


class TokenWatch:
    """The loop that re-checks every open connection's token."""

    def __init__(self, server: Any, context: Any, sessions: Sessions,
                 registry: RoomRegistry, interval: float) -> None:
        self.server = server
        self.context = context
        self.sessions = sessions
        self.registry = registry
        self.interval = interval
        self._stop = threading.Event()

    def run(self) -> None:
        """Check every ``interval`` seconds until stopped."""
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except StoreUnavailable as exc:
                logger.warning("regiq live: tokens not re-checked now: %s", exc)
            except Exception:  # the loop must outlive one bad round
                logger.exception("regiq live: token re-check failed")

    def stop(self) -> None:
        self._stop.set()

    def check(self) -> None:
        """One round: close the connections of revoked tokens, narrow changed roles."""
        sessions = self.sessions.snapshot()
        if not sessions:
            return
        current = self.context.principals({s.digest for s in sessions.values()})
        for sid, session in sessions.items():
            principal = current.get(session.digest)
            if principal is None:
                self.close(sid)
            elif principal != session.principal:
                self.narrow(sid, session.digest, principal)

    def close(self, sid: str) -> None:
        """Tell the client why, then close its connection."""
        self.sessions.remove(sid)
        self.registry.leave(sid)
        try:
            self.server.emit("error", REVOKED, to=sid, namespace=NAMESPACE)
        finally:
            self.server.disconnect(sid, namespace=NAMESPACE)

    def narrow(self, sid: str, digest: str, principal: Principal) -> None:
        """Follow a role change: leave what the new role may not see, tell the client."""
        self.sessions.add(sid, digest, principal)
        for room in self.registry.rooms_of_sid(sid):
            if not may_see(principal.role, room):
                self.server.leave_room(sid, room, namespace=NAMESPACE)
                self.registry.leave(sid, room)
        self.server.emit("auth", auth_event(principal), to=sid, namespace=NAMESPACE)
