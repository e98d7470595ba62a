"""Helpers of the live and page tests: served monitor processes and Socket.IO clients.

``python -m tests.live_support PORT`` serves the monitor for ``tests.worker_app`` (the
test app of ``REGIQ_TEST_*``) with the extra Flask config of ``REGIQ_TEST_MONITOR_CONFIG``
(JSON), as ``regiq monitor`` would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio

from regiq_tasks.store import Change, LiveStore
from regiq_tasks.transitions import identity
from tests.fixtures.redis_server import free_port
from tests.fixtures.services import ROOT
from tests.monitor_support import TOKEN_CONFIG, TOKENS
from tests.waiting import wait_for

__all__ = ["TOKENS", "JobWriter", "LiveClient", "ServedMonitor", "close_all", "live_client",
           "served_monitor"]


class JobWriter:
    """Writes job changes through the live store, as workers do (each one an event)."""

    def __init__(self, store: LiveStore) -> None:
        self.store = store

    def queued(self, job_id: str, job_type: str = "ingest", pipeline_id: str | None = None,
               message: str | None = None) -> None:
        fields: dict[str, Any] = {
            **identity(job_id, f"t.{job_type}", time.time(),
                       {"pipeline_id": pipeline_id or job_id, "root_id": job_id}),
            "type": job_type}
        if message is not None:
            fields["progress_message"] = message
        self.store.apply(Change(job_id, status="queued", set=fields,
                                pipeline_id=pipeline_id or job_id))

    def running(self, job_id: str) -> None:
        self.store.apply(Change(job_id, status="running",
                                set={"started_at": time.time(), "worker": "w@test"}))

    def progress(self, job_id: str, current: float, total: float = 100,
                 message: str | None = None) -> None:
        fields: dict[str, Any] = {"progress_current": current, "progress_total": total}
        if message is not None:
            fields["progress_message"] = message
        self.store.apply(Change(job_id, set=fields))

    def finish(self, job_id: str, status: str = "succeeded") -> None:
        self.store.apply(Change(job_id, status=status, set={"finished_at": time.time()}))

    def run(self, job_id: str, job_type: str = "ingest", pipeline_id: str | None = None) -> None:
        """A whole job: queued, running, one progress step, succeeded."""
        self.queued(job_id, job_type, pipeline_id)
        self.running(job_id)
        self.progress(job_id, 1, 1)
        self.finish(job_id)


class ServedMonitor:
    """A monitor process on a free loopback port."""

    def __init__(self, env: dict[str, str], log: Path, config: dict[str, Any],
                 port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        full_env = {**os.environ, **env, "REGIQ_API_TOKENS": TOKEN_CONFIG,
                    "REGIQ_TEST_MONITOR_CONFIG": json.dumps(config), "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.live_support", str(self.port)], cwd=ROOT,
            env=full_env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
            start_new_session=True)

    def wait_ready(self, timeout: float = 30) -> ServedMonitor:
        def up() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"monitor exited: {self.log.read_text()[-3000:]}")
            try:
                return requests.get(f"{self.url}/healthz", timeout=1).ok
            except requests.ConnectionError:
                return False
        wait_for(up, timeout, f"monitor on {self.url} to answer /healthz")
        return self

    def kill(self) -> None:
        """SIGKILL: the relay gets no chance to release its lease."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def served_monitor(prefix: str, redis_url: str, sqlite_url: str,
                   tmp_path: Path) -> Iterator[Callable[..., ServedMonitor]]:
    """Start monitor processes for this test's app (stopped at teardown)."""
    started: list[ServedMonitor] = []
    env = {"REGIQ_TEST_PREFIX": prefix, "REGIQ_TEST_REDIS_URL": redis_url,
           "REGIQ_TEST_DATABASE_URL": sqlite_url}

    def start(port: int | None = None, **config: Any) -> ServedMonitor:
        monitor = ServedMonitor(env, tmp_path / f"monitor{len(started)}.log", config, port)
        started.append(monitor)
        return monitor.wait_ready()

    yield start
    for monitor in started:
        monitor.stop()


class LiveClient:
    """A python-socketio client that records every event it receives, with its time."""

    def __init__(self) -> None:
        self.sio = socketio.Client(reconnection=False)
        self.events: list[tuple[float, str, Any]] = []
        self._lock = threading.Lock()
        self.sio.on("*", self._record)

    def _record(self, event: str, data: Any = None) -> None:
        with self._lock:
            self.events.append((time.time(), event, data))

    def connect(self, url: str, token: str | None = TOKENS["viewer"]) -> LiveClient:
        auth = {"token": token} if token is not None else None
        self.sio.connect(url, auth=auth, transports=["websocket"], wait_timeout=10)
        return self

    def subscribe(self, **payload: Any) -> Any:
        return self.sio.call("subscribe", payload, timeout=10)

    def received(self, event: str) -> list[Any]:
        with self._lock:
            return [data for _, name, data in self.events if name == event]

    def updates(self, job_id: str | None = None) -> list[tuple[float, dict[str, Any]]]:
        """(time, record) of every job update received, lists unpacked, in order."""
        out: list[tuple[float, dict[str, Any]]] = []
        with self._lock:
            events = list(self.events)
        for at, name, data in events:
            items = data if name == "job_updates" else [data] if name == "job_update" else []
            out.extend((at, r) for r in items if job_id is None or r.get("id") == job_id)
        return out

    def last_status(self, job_id: str) -> str | None:
        records = self.updates(job_id)
        return records[-1][1]["status"] if records else None

    def close(self) -> None:
        if self.sio.connected:
            self.sio.disconnect()


@pytest.fixture
def live_client() -> Iterator[Callable[[], LiveClient]]:
    """Make Socket.IO clients (disconnected at teardown)."""
    made: list[LiveClient] = []

    def make() -> LiveClient:
        client = LiveClient()
        made.append(client)
        return client

    yield make
    close_all(made)


def close_all(clients: list[LiveClient]) -> None:
    """Disconnect clients in parallel (each close waits up to 3 s for the server's
    WebSocket close frame, which the Werkzeug server does not send)."""
    threads = [threading.Thread(target=c.close) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)


def _serve(port: int) -> None:
    from regiq_tasks.monitor.serve import serve
    from tests.worker_app import app

    config = json.loads(os.environ.get("REGIQ_TEST_MONITOR_CONFIG") or "{}")
    serve("127.0.0.1", port, {"REGIQ_CELERY_APP": app, **config})


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
