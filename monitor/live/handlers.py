"""Socket.IO event handlers: token check on connect, subscribe and unsubscribe.

Registered on the bare ``socketio`` extension when this module is imported (as the REST
auth callbacks are); they find the app's :class:`~monitor.live.hub.LiveHub` through
``current_app``.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import request
from flask_socketio import ConnectionRefusedError, emit, join_room, leave_room

from regiq_tasks.errors import StoreUnavailable
from regiq_tasks.history.tokens import Principal, hash_token
from regiq_tasks.monitor.context import current_context
from regiq_tasks.monitor.extensions import socketio
from regiq_tasks.monitor.live.hub import current_hub
from regiq_tasks.monitor.live.rooms import BadSubscription, may_see, room_of
from regiq_tasks.monitor.live.sessions import REVOKED

logger = logging.getLogger(__name__)


def _sid() -> str:
    sid: str = request.sid  # type: ignore[attr-defined]  # set by Flask-SocketIO
    return sid


@socketio.on("connect")
def on_connect(auth: Any = None) -> None:
    """Accept a client whose ``auth`` carries a valid token; start the live loop."""
    token = auth.get("token") if isinstance(auth, dict) else None
    if not isinstance(token, str) or not token:
        raise ConnectionRefusedError("unauthorized: connect with auth={\"token\": ...}")
    try:
        principal = current_context().authenticate(token)
    except StoreUnavailable:
        raise ConnectionRefusedError("unavailable: cannot check the token now") from None
    if principal is None:
        raise ConnectionRefusedError("unauthorized: invalid token")
    hub = current_hub()
    hub.sessions.add(_sid(), hash_token(token), principal)
    hub.start()


@socketio.on("disconnect")
def on_disconnect(reason: Any = None) -> None:
    """Forget the client's rooms and token."""
    hub = current_hub()
    hub.sessions.remove(_sid())
    hub.registry.leave(_sid())


def _error(event: str, message: str, code: str = "bad_request") -> dict[str, Any]:
    body = {"error": {"code": code, "message": message, "details": {"event": event}}}
    emit("error", body)
    return {"ok": False, **body}


def _principal_now() -> Principal | None:
    """Who the connection's token stands for now (None: revoked; the token watch closes
    the connection within its next round)."""
    session = current_hub().sessions.get(_sid())
    if session is None:
        return None
    return current_context().principals([session.digest]).get(session.digest)


@socketio.on("subscribe")
def on_subscribe(payload: Any = None) -> dict[str, Any]:
    """Join the room a payload names; acknowledges ``{"ok", "room"}``."""
    try:
        room = room_of(payload)
    except BadSubscription as exc:
        return _error("subscribe", str(exc))
    try:
        principal = _principal_now()
    except StoreUnavailable:
        return _error("subscribe", "cannot check the token now", "unavailable")
    if principal is None:
        emit("error", REVOKED)
        return {"ok": False, **REVOKED}
    if not may_see(principal.role, room):
        return _error("subscribe", "this token's role may not see this room", "forbidden")
    join_room(room)
    try:
        current_hub().registry.join(_sid(), room)
    except redis.RedisError as exc:  # announced again by the next refresh
        logger.warning("regiq live: room %s not announced now: %s", room, exc)
    return {"ok": True, "room": room}


@socketio.on("unsubscribe")
def on_unsubscribe(payload: Any = None) -> dict[str, Any]:
    """Leave the room a payload names."""
    try:
        room = room_of(payload)
    except BadSubscription as exc:
        return _error("unsubscribe", str(exc))
    leave_room(room)
    current_hub().registry.leave(_sid(), room)
    return {"ok": True, "room": room}
