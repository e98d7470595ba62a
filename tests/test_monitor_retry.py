"""PUT /status/jobs/{id}/retry and PUT /status/pipelines/{id}/cancel against a real worker."""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery, chain

from regiq_tasks import get_job
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.monitor import Monitor
from tests.fixtures.services import thread_worker
from tests.fixtures.waiting import wait_for


@pytest.fixture
def monitor(app: Celery) -> Monitor:
    return Monitor(app)


def status_of(app: Celery, job_id: str) -> str | None:
    job = get_job(job_id, app=app)
    return job["status"] if job else None


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()["error"]


def test_an_operator_retries_a_failed_job_and_the_new_job_runs(
        monitor: Monitor, app: Celery, prefix: str) -> None:
    with thread_worker(app):
        failed = app.tasks["t.once"].delay(4, f"{prefix}k")
        wait_for(lambda: status_of(app, failed.id) == "failed", 20, "the first run to fail")
        path = f"/status/jobs/{failed.id}/retry"
        assert error_of(monitor.put(path, role=None), 401)["code"] == "unauthorized"
        assert error_of(monitor.put(path, role="viewer"), 403)["code"] == "forbidden"
        response = monitor.put(path)
        assert response.status_code == 202, response.get_data(as_text=True)
        new = response.get_json()
        assert new["retry_of"] == failed.id and new["status"] in ("queued", "running",
                                                                  "succeeded")
        wait_for(lambda: status_of(app, new["id"]) == "succeeded", 20, "the retry to run")
    old = monitor.json(f"/status/jobs/{failed.id}")
    assert old["retried_as"] == new["id"] and old["retried_by"] == "operator"
    assert "message" not in old and "message" not in monitor.json(f"/status/jobs/{new['id']}")
    conflict = error_of(monitor.put(path), 409)
    assert "retried already as " + new["id"] in conflict["message"]
    succeeded = error_of(monitor.put(f"/status/jobs/{new['id']}/retry"), 409)
    assert "it is succeeded; only failed, lost or cancelled jobs are retried" in \
        succeeded["message"]
    assert succeeded["details"] == {"id": new["id"], "status": "succeeded"}


def test_retry_refuses_queued_unknown_and_no_longer_kept_jobs(monitor: Monitor,
                                                              app: Celery) -> None:
    queued = app.tasks["t.add"].delay(1, 2)  # no worker: it stays queued
    get_tracker(app).flush()
    path = f"/status/jobs/{queued.id}/retry"
    assert "it is queued" in error_of(monitor.put(path), 409)["message"]
    assert error_of(monitor.put("/status/jobs/nope/retry"), 404)["details"] == {"id": "nope"}
    assert monitor.put(f"/status/jobs/{queued.id}/cancel", {"reason": "x"}).status_code == 202
    tracker = get_tracker(app)
    tracker.redis.delete(tracker.keys.message(queued.id))  # as when the live TTL is over
    assert "its message is no longer kept" in error_of(monitor.put(path), 409)["message"]


def test_an_operator_cancels_a_pipeline_and_its_later_links_never_run(
        monitor: Monitor, app: Celery, prefix: str) -> None:
    marker = f"{prefix}later-ran"
    result = chain(app.tasks["t.sleep"].si(1.0), app.tasks["t.mark"].si(marker)).apply_async()
    head = result.parent.id
    path = f"/status/pipelines/{head}/cancel"
    with thread_worker(app):
        wait_for(lambda: status_of(app, head) == "running", 20, "the first link to run")
        assert error_of(monitor.put(path, {"reason": "x"}, role="viewer"), 403)
        assert error_of(monitor.put(path, {}), 400)["code"] == "bad_request"
        response = monitor.put(path, {"reason": "batch withdrawn"})
        assert response.status_code == 202, response.get_data(as_text=True)
        assert response.get_json()["pipeline_id"] == head
        wait_for(lambda: status_of(app, result.id) == "cancelled", 20, "the next link cancelled")
    assert app.backend.client.get(marker) is None
    assert get_job(result.id, app=app)["cancel"]["requested_by"] == "operator"
    unknown = error_of(monitor.put("/status/pipelines/nope/cancel", {"reason": "x"}), 404)
    assert unknown["details"] == {"id": "nope"}


def test_the_openapi_document_has_both_operator_actions(monitor: Monitor) -> None:
    paths = monitor.json("/openapi.json")["paths"]
    assert set(paths["/status/jobs/{job_id}/retry"]["put"]["responses"]) >= {
        "202", "403", "404", "409"}
    assert "requestBody" in paths["/status/pipelines/{pipeline_id}/cancel"]["put"]
