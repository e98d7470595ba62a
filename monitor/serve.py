"""Serving the monitor with Flask-SocketIO's server (``regiq monitor``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from werkzeug.serving import WSGIRequestHandler

from regiq_tasks.monitor import create_app
from regiq_tasks.monitor.api.errors import error_body
from regiq_tasks.monitor.extensions import socketio

NO_BODY = (HTTPStatus.NO_CONTENT, HTTPStatus.RESET_CONTENT, HTTPStatus.NOT_MODIFIED)


class JSONErrorRequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler, with the errors it answers itself in the API's shape.

    The HTTP server refuses some requests before the app sees them (a header line over
    64 KiB: 431; a malformed request line: 400) with an HTML page; these get the JSON
    error shape too.
    """

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """Send ``code`` with ``{"error": {...}}`` as the body and close the connection."""
        short, long = self.responses.get(code, ("Error", "Error"))
        self.log_error("code %d, message %s", code, message or short)
        self.send_response(code, message or short)
        self.send_header("Connection", "close")
        body = b""
        if code >= 200 and code not in NO_BODY:
            body = json.dumps(error_body(code, explain or long or short,
                                         {"reason": message or short})).encode()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)


def serve(host: str, port: int, config: Mapping[str, Any] | None = None) -> None:
    """Build the app and serve it until interrupted (threading mode, Werkzeug server).

    For production, run ``create_app()`` under the server Flask-SocketIO recommends
    (see the README's Monitor section) instead.
    """
    app = create_app(config)
    socketio.run(app, host=host, port=port, allow_unsafe_werkzeug=True, use_reloader=False,
                 log_output=False, request_handler=JSONErrorRequestHandler)
