"""Revokes from outside regiq (``celery control revoke``), and what Celery sees of a
job cancelled through regiq: real prefork workers, real Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from celery import Celery
from celery.exceptions import TaskRevokedError

from regiq_tasks import cancel_job, get_history, get_job
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.monitor import Monitor
from tests.fixtures.waiting import wait_for

pytestmark = pytest.mark.prefork
Start = Callable[..., Any]


def status_of(app: Celery, job_id: str) -> str | None:
    job = get_job(job_id, app=app)
    return job["status"] if job else None


def progressing(app: Celery, job_id: str, at_least: int = 5) -> bool:
    job = get_job(job_id, app=app)
    return bool(job and job["progress"] and job["progress"]["current"] >= at_least)


def alert_queue_length(app: Celery, prefix: str) -> int:
    queue = get_tracker(app).settings.alert_queue
    return int(app.backend.client.llen(f"{prefix}celery:{queue}"))


def archived_as(app: Celery, job_id: str, status: str) -> bool:
    return any(j["id"] == job_id for j in get_history(status=status, app=app)["items"])


def test_a_terminate_revoke_ends_cancelled_saying_so_and_raises_no_alert(
        app: Celery, prefix: str, prefork_worker: Start) -> None:
    prefork_worker(app)
    result = app.tasks["t.count"].delay(600, 60.0, "reindexed")
    wait_for(lambda: progressing(app, result.id), 20, "job to make progress")
    app.control.revoke(result.id, terminate=True)  # `celery control revoke --terminate`
    job = wait_for(lambda: (j := get_job(result.id, app=app)) and j["status"] != "running"
                   and j, 20, "job to end")
    assert job["status"] == "cancelled" and job["error"] is None
    cancel = job["cancel"]
    assert cancel["reason"] == "revoked outside regiq" and cancel["requested_by"] is None
    assert cancel["terminated"] is True and cancel["signal"] == "SIGTERM"
    shown = Monitor(app).json(f"/status/jobs/{result.id}")["cancel"]  # and through REST
    assert (shown["terminated"], shown["signal"]) == (True, "SIGTERM")
    assert 5 <= job["progress"]["current"] < 600
    wait_for(lambda: archived_as(app, result.id, "cancelled"), 10, "history row")
    assert alert_queue_length(app, prefix) == 0  # no job_failed alert was handed off
    assert result.state == "REVOKED"
    assert app.tasks["t.add"].delay(1, 1).get(timeout=20) == 2  # the child was replaced
    # and the main process still writes what it sees: a second terminate ends cancelled
    again = app.tasks["t.count"].delay(600, 60.0, "again")
    wait_for(lambda: progressing(app, again.id, 1), 20, "second job to make progress")
    app.control.revoke(again.id, terminate=True)
    wait_for(lambda: status_of(app, again.id) == "cancelled", 20, "second job cancelled")


def test_a_revoke_without_terminate_stops_a_running_job_at_its_next_check(
        app: Celery, prefix: str, prefork_worker: Start) -> None:
    prefork_worker(app)
    finally_key = f"{prefix}finally"
    result = app.tasks["t.cooperative"].delay(1000, 0.01, finally_key)
    wait_for(lambda: progressing(app, result.id), 20, "job to make progress")
    app.control.revoke(result.id)  # Flower's Revoke button, `celery control revoke`
    job = wait_for(lambda: (j := get_job(result.id, app=app)) and j["status"] != "running"
                   and j, 20, "job to stop")
    assert job["status"] == "cancelled" and job["error"] is None
    assert job["cancel"]["reason"] == "revoked outside regiq"
    assert job["cancel"]["requested_by"] is None and not job["cancel"].get("terminated")
    assert job["progress"]["current"] < 1000
    assert app.backend.client.get(finally_key) == b"ran"
    assert result.state == "REVOKED"


def test_a_job_revoked_without_terminate_that_never_checks_keeps_its_real_outcome(
        app: Celery, prefork_worker: Start) -> None:
    prefork_worker(app)
    result = app.tasks["t.sleep"].delay(2)
    wait_for(lambda: status_of(app, result.id) == "running", 20, "job to run")
    app.control.revoke(result.id)
    assert result.get(timeout=20) == 2
    job = wait_for(lambda: (j := get_job(result.id, app=app)) and j["status"] != "running"
                   and j, 10, "job to finish")
    assert job["status"] == "succeeded"
    assert job["cancel"] and job["cancel"]["reason"] == "revoked outside regiq"


def test_a_job_cancelled_through_regiq_ends_revoked_for_celery_and_logs_at_info(
        app: Celery, prefix: str, prefork_worker: Start) -> None:
    worker = prefork_worker(app)
    result = app.tasks["t.cooperative"].delay(1000, 0.01, f"{prefix}f")
    wait_for(lambda: progressing(app, result.id), 20, "job to make progress")
    cancel_job(result.id, "wrong input file", app=app)
    wait_for(lambda: status_of(app, result.id) == "cancelled", 10, "job to stop")
    wait_for(lambda: result.state == "REVOKED", 10, "REVOKED in the result backend")
    with pytest.raises(TaskRevokedError):
        result.get(timeout=5)
    log = wait_for(lambda: (text := worker.log.read_text()) and result.id in text
                   and "cancelled" in text and text, 10, "the worker's log line")
    lines = [line for line in log.splitlines() if result.id in line]
    assert any("INFO" in line and "cancelled" in line for line in lines), lines
    assert "raised unexpected" not in log and "Traceback" not in log


def test_a_job_terminated_through_regiq_ends_revoked_for_celery(
        app: Celery, prefork_worker: Start) -> None:
    worker = prefork_worker(app, cancel_grace=1)
    result = app.tasks["t.sleep"].delay(60)
    wait_for(lambda: status_of(app, result.id) == "running", 20, "job to run")
    cancel_job(result.id, "runaway", terminate=True, app=app)
    wait_for(lambda: status_of(app, result.id) == "cancelled", 20, "forced stop")
    job = get_job(result.id, app=app)
    assert job["cancel"]["reason"] == "runaway" and job["cancel"]["terminated"] is True
    assert job["error"] is None
    wait_for(lambda: result.state == "REVOKED", 10, "REVOKED in the result backend")
    assert "WorkerLostError" not in worker.log.read_text()
