"""The live side of one monitor app: its settings, room registry and relay loop."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask, current_app

from .config import LiveConfig
from .relay import Relay
from .rooms import RoomRegistry

EXTENSION = "regiq_live"
STOP_TIMEOUT = 5.0  # s to wait for the loop to end on stop()


class LiveHub:
    """Starts the relay loop once (first client, or ``serve()``) and stops it."""

    def __init__(self, socketio: Any, tracker: Any, config: LiveConfig) -> None:
        self.socketio = socketio
        self.tracker = tracker
        self.config = config
        self.registry = RoomRegistry(tracker.redis, tracker.keys)
        self.relay: Relay | None = None
        self._thread: Any = None
        self._lock = threading.Lock()

    def start(self) -> Relay:
        """Start the live loop unless it runs already; returns it."""
        with self._lock:
            if self.relay is None:
                self.relay = Relay(self.socketio.server, self.tracker.store, self.tracker.keys,
                                   self.config, self.registry,
                                   may_lead=self.config.relay != "off")
                self._thread = self.socketio.start_background_task(self.relay.run)
            return self.relay

    def stop(self) -> None:
        """Stop the loop (releasing the relay lease) and wait for it."""
        with self._lock:
            relay, thread = self.relay, self._thread
            self.relay = self._thread = None
        if relay is not None:
            relay.stop()
            if thread is not None and hasattr(thread, "join"):
                thread.join(STOP_TIMEOUT)


def current_hub() -> LiveHub:
    """The live hub of the current Flask app."""
    hub: LiveHub = current_app.extensions[EXTENSION]
    return hub


def hub_of(app: Flask) -> LiveHub:
    """The live hub of ``app``."""
    hub: LiveHub = app.extensions[EXTENSION]
    return hub
