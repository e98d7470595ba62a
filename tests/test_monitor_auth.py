"""Bearer tokens and roles: the auth matrix, stored tokens, revocation, requested_by."""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery

from regiq_tasks.history import upgrade
from regiq_tasks.history.tokens import create_token, list_tokens, revoke_token
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.monitor import Monitor

READ = "read"
WRITE = "write"


def endpoints(job_id: str) -> list[tuple[str, str, Any, str]]:
    """(method, path, body, kind) of every protected endpoint, on a queued job."""
    return [
        ("GET", f"/status/jobs/{job_id}", None, READ),
        ("GET", "/status/jobs", None, READ),
        ("GET", "/status/jobs/history", None, READ),
        ("GET", f"/status/pipelines/{job_id}", None, READ),
        ("GET", "/status/metrics/performance?window=5m", None, READ),
        ("GET", "/status/metrics/realtime", None, READ),
        ("GET", "/status/workers", None, READ),
        ("GET", "/openapi.json", None, READ),
        ("GET", "/metrics", None, READ),
        ("PUT", f"/status/jobs/{job_id}/progress", {"current": 1, "total": 2}, WRITE),
        ("PUT", f"/status/jobs/{job_id}/cancel", {"reason": "matrix"}, WRITE),
    ]


@pytest.fixture
def monitor(app: Celery) -> Monitor:
    return Monitor(app)


def call(monitor: Monitor, method: str, path: str, body: Any, **who: Any) -> int:
    headers = monitor.headers(**who)
    response = monitor.client.open(path, method=method, json=body, headers=headers)
    return response.status_code


@pytest.mark.parametrize("who, read, write", [
    ({"role": None}, 401, 401),
    ({"token": "not-a-token"}, 401, 401),
    ({"token": ""}, 401, 401),
    ({"role": "viewer"}, 200, 403),
    ({"role": "operator"}, 200, 200),
    ({"role": "admin"}, 200, 200),
])
def test_the_auth_matrix_of_every_endpoint(monitor: Monitor, app: Celery, who: dict[str, Any],
                                           read: int, write: int) -> None:
    job_id = app.tasks["t.add"].delay(1, 2).id  # queued: every endpoint can succeed on it
    for method, path, body, kind in endpoints(job_id):
        expected = read if kind == READ else write
        status = call(monitor, method, path, body, **who)
        if expected == 200:
            assert status in (200, 202), (method, path, status)
        else:
            assert status == expected, (method, path, status)
    assert monitor.client.get("/healthz").status_code == 200


def test_a_failed_auth_says_so_with_a_challenge(monitor: Monitor) -> None:
    response = monitor.get("/status/jobs", token="wrong")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert "Bearer" in response.headers.get("WWW-Authenticate", "")
    basic = monitor.client.get("/status/jobs", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert basic.status_code == 401


def test_a_stored_token_works_until_it_is_revoked_and_names_the_canceller(
        app: Celery, database_url: str, make_app: Any) -> None:
    upgrade(database_url)  # as a worker's start or `regiq db upgrade` leaves it
    app = make_app(database_url=database_url)
    monitor = Monitor(app, REGIQ_API_TOKENS="")
    engine = get_tracker(app).engine
    record, secret = create_token(engine, "alice", "operator")
    assert secret.startswith("rq_") and len(secret) > 40
    stored = next(t for t in list_tokens(engine) if t["id"] == record["id"])
    assert stored["name"] == "alice" and "token_hash" not in stored and secret not in str(stored)
    job = app.tasks["t.add"].delay(1, 2)
    response = monitor.put(f"/status/jobs/{job.id}/cancel", {"reason": "dup"}, token=secret)
    assert response.status_code == 202
    assert response.get_json()["cancel"]["requested_by"] == "alice"
    assert revoke_token(engine, record["id"]) is True
    assert monitor.get("/status/jobs", token=secret).status_code == 401
    assert revoke_token(engine, record["id"]) is False


def test_a_stored_viewer_token_may_read_but_not_write(app: Celery) -> None:
    monitor = Monitor(app, REGIQ_API_TOKENS="")
    _, secret = create_token(get_tracker(app).engine, "dashboard", "viewer")
    job = app.tasks["t.add"].delay(1, 2)
    assert monitor.get(f"/status/jobs/{job.id}", token=secret).status_code == 200
    assert monitor.put(f"/status/jobs/{job.id}/cancel", {"reason": "x"},
                       token=secret).status_code == 403


def test_tokens_are_stored_only_as_hashes(app: Celery) -> None:
    engine = get_tracker(app).engine
    _, secret = create_token(engine, "ops", "admin")
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT * FROM api_tokens").all()
    assert rows and all(secret not in str(tuple(row)) for row in rows)


def test_a_bad_role_or_name_is_refused(app: Celery) -> None:
    engine = get_tracker(app).engine
    with pytest.raises(ValueError, match="role"):
        create_token(engine, "x", "root")
    with pytest.raises(ValueError, match="name"):
        create_token(engine, " ", "viewer")
