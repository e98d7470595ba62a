"""The monitor: a Flask app factory (REST API, Socket.IO and the web page arrive with
their own issues; for now it serves the unauthenticated liveness probe)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the monitor's Flask app; ``config`` updates ``app.config``."""
    app = Flask(__name__)
    app.config.update(config or {})

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify({"status": "ok"})

    return app
