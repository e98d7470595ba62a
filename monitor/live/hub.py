"""The live side of one monitor app: its settings, room registry and relay loop."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask, current_app

from regiq_tasks.monitor.live.config import LiveConfig
from regiq_tasks.monitor.live.relay import Relay
from regiq_tasks.monitor.live.rooms import RoomRegistry
from regiq_tasks.monitor.live.sessions import Sessions, TokenWatch

EXTENSION = "regiq_live"
STOP_TIMEOUT = 5.0  # s to wait for the loop to end on stop()


class LiveHub:
    """Starts the relay and token-check loops once (first client, or ``serve()``)."""

    def __init__(self, socketio: Any, context: Any, config: LiveConfig) -> None:
        self.socketio = socketio
        self.context = context
        self.tracker = context.tracker
        self.config = config
        self.registry = RoomRegistry(self.tracker.redis, self.tracker.keys)
        self.sessions = Sessions()
        self.relay: Relay | None = None
        self.watch: TokenWatch | None = None
        self._threads: list[Any] = []
        self._lock = threading.Lock()

    def start(self) -> Relay:
        """Start the live loop unless it runs already; returns it."""
        with self._lock:
            if self.relay is None:
                server = self.socketio.server
                self.relay = Relay(server, self.tracker.store, self.tracker.keys,
                                   self.config, self.registry, self.context.celery_app,
                                   may_lead=self.config.relay != "off")
                self.watch = TokenWatch(server, self.context, self.sessions, self.registry,
                                        self.config.token_recheck)
                self._threads = [self.socketio.start_background_task(loop.run)
                                 for loop in (self.relay, self.watch)]
            return self.relay

    def stop(self) -> None:
        """Stop the loops (releasing the relay lease) and wait for them."""
        with self._lock:
            loops, threads = [self.relay, self.watch], self._threads
            self.relay, self.watch, self._threads = None, None, []
        for loop in loops:
            if loop is not None:
                loop.stop()
        for thread in threads:
            if hasattr(thread, "join"):
                thread.join(STOP_TIMEOUT)


def current_hub() -> LiveHub:
    """The live hub of the current Flask app."""
    hub: LiveHub = current_app.extensions[EXTENSION]
    return hub


def hub_of(app: Flask) -> LiveHub:
    """The live hub of ``app``."""
    hub: LiveHub = app.extensions[EXTENSION]
    return hub
