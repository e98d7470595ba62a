"""A token revoked or given another role stops working on open Socket.IO connections.

The REST API answers 401 at once; an open connection must follow within 5 s: closed for
a revoked token (no more updates, no more subscriptions), told its new role for a
changed one. Real monitor process, real python-socketio clients, real token store.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
import socketio
from celery import Celery

from regiq_tasks.history.tokens import change_role, create_token, revoke_token
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.live import TOKENS, JobWriter, LiveClient, ServedMonitor
from tests.fixtures.waiting import wait_for

Serve = Callable[..., ServedMonitor]
MakeClient = Callable[[], LiveClient]
FOLLOW_WITHIN = 5.0  # s: the contract for open connections


@pytest.fixture
def jobs(app: Celery) -> JobWriter:
    return JobWriter(get_tracker(app).store)


def _job(jobs: JobWriter, client: LiveClient) -> str:
    """Write a job and wait until ``client`` received its update."""
    job_id = f"job-{uuid.uuid4().hex[:8]}"
    jobs.queued(job_id)
    wait_for(lambda: client.updates(job_id), 10, f"{job_id} to reach the witness")
    return job_id


def _subscribe_refused(client: LiveClient) -> bool:
    """True when a subscribe is refused or finds the connection already closed."""
    try:
        ack = client.subscribe(job_id="after-revoke")
    except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError,
            socketio.exceptions.DisconnectedError):
        return True
    return ack.get("ok") is False


def test_a_revoked_token_loses_its_open_connection_within_5_s(
        served_monitor: Serve, live_client: MakeClient, jobs: JobWriter, app: Celery) -> None:
    monitor = served_monitor()
    engine = get_tracker(app).engine
    record, token = create_token(engine, "dashboard", "viewer")
    watched = live_client().connect(monitor.url, token=token)
    witness = live_client().connect(monitor.url, token=TOKENS["viewer"])
    for client in (watched, witness):
        assert client.subscribe(all=True)["ok"] is True
    before = _job(jobs, witness)
    wait_for(lambda: watched.updates(before), 10, "the update before the revoke")

    assert revoke_token(engine, record["id"]) is True
    revoked_at = time.monotonic()
    assert requests.get(f"{monitor.url}/status/jobs", timeout=5,
                        headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert _subscribe_refused(watched)
    wait_for(lambda: not watched.sio.connected, FOLLOW_WITHIN, "the revoked client closed")
    assert time.monotonic() - revoked_at <= FOLLOW_WITHIN
    assert any(e["error"]["code"] == "unauthorized" for e in watched.received("error"))

    after = [_job(jobs, witness) for _ in range(6)]
    assert not any(watched.updates(job_id) for job_id in after)
    assert witness.sio.connected
    with pytest.raises(socketio.exceptions.ConnectionError):
        LiveClient().connect(monitor.url, token=token)


def test_a_role_change_reaches_the_open_connection_within_5_s(
        served_monitor: Serve, live_client: MakeClient, jobs: JobWriter, app: Celery) -> None:
    monitor = served_monitor()
    engine = get_tracker(app).engine
    record, token = create_token(engine, "ops", "operator")
    client = live_client().connect(monitor.url, token=token)
    assert client.subscribe(all=True)["ok"] is True

    assert change_role(engine, record["id"], "viewer") is True
    changed: list[Any] = wait_for(lambda: client.received("auth"), FOLLOW_WITHIN,
                                  "the auth event of the new role")
    assert changed[-1] == {"name": "ops", "role": "viewer", "roles": ["viewer"]}
    assert client.sio.connected  # a viewer still sees every room
    job_id = f"job-{uuid.uuid4().hex[:8]}"
    jobs.queued(job_id)
    wait_for(lambda: client.updates(job_id), 10, "updates still reach the viewer")
    whoami = requests.get(f"{monitor.url}/auth/whoami", timeout=5,
                          headers={"Authorization": f"Bearer {token}"}).json()
    assert whoami["role"] == "viewer"
