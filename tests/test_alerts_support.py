"""Helpers of the alert tests (no tests here): a worker that also consumes the alert queue,
a local webhook server."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Self

from celery import Celery
from celery.contrib.testing.worker import start_worker

from regiq_tasks import TrackedTask
from regiq_tasks.alerts import list_alerts
from regiq_tasks.tracker import get_tracker
from tests.waiting import wait_for


@contextmanager
def alert_worker(app: Celery, pool: str = "solo", concurrency: int = 1,
                 alerts_only: bool = False) -> Iterator[Any]:
    """An in-thread worker consuming the alert queue (and the app's queue unless told)."""
    queues = [get_tracker(app).settings.alert_queue]
    if not alerts_only:
        queues.insert(0, app.conf.task_default_queue)
    with start_worker(app, pool=pool, concurrency=concurrency, perform_ping_check=False,
                      loglevel="WARNING", shutdown_timeout=10, queues=queues) as worker:
        yield worker


def define_alert_tasks(app: Celery) -> None:
    """Tasks only the alert tests run (in-thread workers only)."""

    @app.task(base=TrackedTask, bind=True, shared=False, name="ta.broken", job_type="parse")
    def broken(self: TrackedTask, message: str = "bad document") -> None:
        raise ValueError(message)

    @app.task(base=TrackedTask, bind=True, shared=False, name="ta.slow", job_type="slow",
              expected_duration=0.3)
    def slow(self: TrackedTask, release_key: str) -> str:
        """Run until ``release_key`` exists in Redis (at most 30 s)."""
        client = self.app.backend.client
        deadline = time.monotonic() + 30
        while not client.exists(release_key) and time.monotonic() < deadline:
            time.sleep(0.02)
        return "released"


def alerts_of(app: Celery, **filters: Any) -> list[dict[str, Any]]:
    """Every alert matching the filters (one page is enough in these tests)."""
    items: list[dict[str, Any]] = list_alerts(app=app, limit=500, **filters)["items"]
    return items


def wait_alert(app: Celery, timeout: float = 20, count: int | None = None,
               **filters: Any) -> dict[str, Any]:
    """The newest alert matching the filters, once there is one (with ``count`` if given)."""
    def found() -> dict[str, Any] | None:
        items = alerts_of(app, **filters)
        if items and (count is None or items[0]["count"] == count):
            return items[0]
        return None
    return wait_for(found, timeout, f"alert {filters} (count {count})")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class WebhookServer:
    """A local HTTP server in a thread that records the JSON bodies POSTed to it."""

    def __init__(self, port: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
