"""Engine.IO's own error answers (bad session, transport or protocol) in the API's JSON shape.

Engine.IO answers a bad request on the Socket.IO path itself, as ``text/plain``, before
Flask sees it. This WSGI middleware wraps Flask-SocketIO's and rewrites only those
answers (status 400 or more, not JSON already) into ``{"error": {...}}``; everything
else, WebSocket upgrades included, passes through untouched.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from regiq_tasks.monitor.api.errors import error_body

SOCKETIO_PATH = "/socket.io"  # Flask-SocketIO's default path


def _message(chunks: Iterable[bytes]) -> str:
    text = b"".join(chunks).decode("utf-8", "replace").strip()
    try:
        decoded = json.loads(text)  # Engine.IO sends its message as a JSON string
    except ValueError:
        decoded = text
    return str(decoded) or "bad Socket.IO request"


class TransportErrors:
    """Rewrite Engine.IO's non-JSON error responses into the JSON error shape."""

    def __init__(self, app: Callable[..., Iterable[bytes]], path: str = SOCKETIO_PATH) -> None:
        self.app = app
        self.path = path

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not environ.get("PATH_INFO", "").startswith(self.path):
            return self.app(environ, start_response)
        held: list[int] = []

        def hold_errors(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            code = int(status.split(" ", 1)[0])
            kind = next((v for k, v in headers if k.lower() == "content-type"), "")
            if code >= 400 and not kind.startswith("application/json"):
                held.append(code)
                return lambda data: None
            return start_response(status, headers, exc_info)

        result = self.app(environ, hold_errors)
        if not held:
            return result
        try:
            message = _message(result)
        finally:
            getattr(result, "close", lambda: None)()
        body = json.dumps(error_body(held[0], message)).encode()
        start_response(f"{held[0]} {HTTPStatus(held[0]).phrase}",
                       [("Content-Type", "application/json"),
                        ("Content-Length", str(len(body))), ("Cache-Control", "no-store")])
        return [body]
