"""Serving the monitor with Flask-SocketIO's server (``regiq monitor``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import create_app
from .extensions import socketio


def serve(host: str, port: int, config: Mapping[str, Any] | None = None) -> None:
    """Build the app and serve it until interrupted (threading mode, Werkzeug server).

    For production, run ``create_app()`` under the server Flask-SocketIO recommends
    (see the README's Monitor section) instead.
    """
    app = create_app(config)
    socketio.run(app, host=host, port=port, allow_unsafe_werkzeug=True, use_reloader=False,
                 log_output=False)
