"""The monitor: an app factory serving the REST API (Socket.IO and the page plug in here).

``create_app(config)`` builds an :class:`apiflask.APIFlask` app; its extensions
(``socketio``, the token ``auth``) are created bare in :mod:`monitor.extensions` and bound
here. Config keys besides Flask's: ``REGIQ_CELERY_APP`` (a Celery app or
``module:attribute``; default the bundled ``regiq_tasks`` app), ``REGIQ_API_TOKENS`` and
``REGIQ_MAX_BODY_BYTES`` (default: the plugin's settings), ``SOCKETIO_MESSAGE_QUEUE``.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from apiflask import APIFlask

from .api import API_CONFIG, register_api
from .context import EXTENSION, build_context
from .extensions import socketio

__all__ = ["create_app", "socketio"]


def _version() -> str:
    try:
        return version("regiq-tasks")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


def create_app(config: Mapping[str, Any] | None = None) -> APIFlask:
    """Build the monitor's app; ``config`` updates ``app.config``."""
    app = APIFlask(__name__, title="regiq monitor", version=_version(), spec_path=None,
                   docs_path=None, static_folder=None)  # type: ignore[arg-type]
    app.config.update(API_CONFIG)
    app.config.update(config or {})
    app.json.sort_keys = False  # type: ignore[attr-defined]  # records keep their field order
    app.extensions[EXTENSION] = build_context(app.config)
    register_api(app)
    socketio.init_app(app, async_mode=app.config.get("SOCKETIO_ASYNC_MODE", "threading"),
                      message_queue=app.config.get("SOCKETIO_MESSAGE_QUEUE"))
    return app
