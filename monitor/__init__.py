"""The monitor: an app factory serving the REST API, live updates and the web page.

``create_app(config)`` builds an :class:`apiflask.APIFlask` app; its extensions
(``socketio``, the token ``auth``) are created bare in :mod:`monitor.extensions` and bound
here. Config keys besides Flask's: ``REGIQ_CELERY_APP`` (a Celery app or
``module:attribute``; default the bundled ``regiq_tasks`` app), ``REGIQ_API_TOKENS`` and
``REGIQ_MAX_BODY_BYTES`` (default: the plugin's settings), ``SOCKETIO_MESSAGE_QUEUE`` and
the ``REGIQ_LIVE_*`` keys of :mod:`monitor.live`. One app per process: the Socket.IO
extension is shared.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from apiflask import APIFlask

from regiq_tasks.monitor.api import API_CONFIG, register_api
from regiq_tasks.monitor.context import EXTENSION, build_context
from regiq_tasks.monitor.extensions import socketio
from regiq_tasks.monitor.live import init_live
from regiq_tasks.monitor.page import bp as page_bp

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
    app.extensions[EXTENSION] = context = build_context(app.config)
    register_api(app)
    app.register_blueprint(page_bp)
    init_live(app, context)
    return app
