"""Live updates over Socket.IO: connect with a token, subscribe to rooms, receive jobs.

Clients connect with ``auth={"token": ...}`` (the REST API's tokens; refused without a
valid one) and emit ``subscribe``/``unsubscribe`` with ``{"job_id": id}``,
``{"pipeline_id": id}`` (``{"root_id": id}`` is its alias), ``{"type": t}`` or
``{"all": true}``; the acknowledgement is ``{"ok": true, "room": ...}``, a bad payload
gets an ``error`` event (and ``{"ok": false, "error": ...}`` as acknowledgement).

The server emits ``job_update`` (one job record) or ``job_updates`` (a list of records,
in the order of their changes) to the subscribed rooms, at most once per room per tick
(``REGIQ_LIVE_TICK``, 0.025 s); before the record of a job that passed through several
statuses within a tick come ``{"id", "status"}`` notes of the statuses it left. A job's
progress reaches a client at most ``live_max_rate`` times a second; status changes,
cancel requests and errors are never held back, and the final status comes last. Every
client also receives ``metrics`` (see :mod:`.metrics`) every few seconds and ``alert``
events, which the alert tasks emit through the message queue. A connection whose token
is revoked is closed, one whose token changes role gets an ``auth`` event (see
:mod:`.sessions`).

Flask config: ``SOCKETIO_MESSAGE_QUEUE`` (default the tracking Redis URL; empty for
none), the channel is ``P socketio`` (``Keys.socketio_channel``), ``SOCKETIO_ASYNC_MODE``
(``threading``), ``REGIQ_LIVE_TICK``, ``REGIQ_LIVE_MAX_RATE`` (default the
``live_max_rate`` setting), ``REGIQ_LIVE_METRICS_INTERVAL`` (2 s),
``REGIQ_LIVE_LEASE_TTL`` (5 s), ``REGIQ_LIVE_TOKEN_RECHECK`` (2 s: how often the
tokens of open connections are checked again, see :mod:`.sessions`) and
``REGIQ_LIVE_RELAY`` (``auto``: the relay loop starts with the first client or
:func:`start_live`; ``on``: with the app; ``off``: this process never relays, it only
serves clients).
"""

from __future__ import annotations

import socketio as python_socketio
from apiflask import APIFlask

from regiq_tasks.monitor.context import MonitorContext
from regiq_tasks.monitor.extensions import socketio
from regiq_tasks.monitor.live import handlers as _handlers  # noqa: F401  (registers the Socket.IO handlers)
from regiq_tasks.monitor.live.config import LiveConfig
from regiq_tasks.monitor.live.hub import EXTENSION, LiveHub, hub_of
from regiq_tasks.monitor.live.transport import TransportErrors

__all__ = ["LiveConfig", "LiveHub", "init_live", "start_live", "stop_live"]


def _client_manager(config: LiveConfig) -> python_socketio.Manager:
    url = config.message_queue
    if not url:
        return python_socketio.Manager()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return python_socketio.RedisManager(url, channel=config.channel)
    return python_socketio.KombuManager(url, channel=config.channel)


def init_live(app: APIFlask, context: MonitorContext) -> None:
    """Bind the Socket.IO server to ``app`` with its message queue; set up the live hub."""
    tracker = context.tracker
    config = LiveConfig.from_config(app.config, tracker.settings, tracker.keys.socketio_channel)
    socketio.init_app(app, async_mode=app.config.get("SOCKETIO_ASYNC_MODE", "threading"),
                      client_manager=_client_manager(config))
    app.wsgi_app = TransportErrors(app.wsgi_app)  # type: ignore[method-assign]
    hub = LiveHub(socketio, context, config)
    app.extensions[EXTENSION] = hub
    if config.relay == "on":
        hub.start()


def start_live(app: APIFlask) -> None:
    """Start the app's live loop now (``serve()`` does; otherwise the first client does)."""
    hub_of(app).start()


def stop_live(app: APIFlask) -> None:
    """Stop the app's live loop and release the relay lease."""
    hub_of(app).stop()
