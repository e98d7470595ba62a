"""Retrying failed, lost and cancelled jobs: a new job with the same message, linked both ways."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from celery import Celery, chain

from regiq_tasks import JobNotFound, JobNotRetryable, cancel_job, get_job, list_jobs, retry_job
from regiq_tasks.history import repository
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.services import thread_worker
from tests.fixtures.waiting import wait_for

Start = Callable[..., Any]


def status_of(app: Celery, job_id: str) -> str | None:
    job = get_job(job_id, app=app)
    return job["status"] if job else None


def retried_and_succeeded(app: Celery, job_id: str, requested_by: str = "ops") -> dict[str, Any]:
    """Retry ``job_id``, wait for the new job to succeed; check the links both ways."""
    new = retry_job(job_id, requested_by=requested_by, app=app)
    assert new["id"] != job_id and new["retry_of"] == job_id
    assert new["status"] in ("queued", "running", "succeeded")
    wait_for(lambda: status_of(app, new["id"]) == "succeeded", 30, "the retry to succeed")
    old = get_job(job_id, app=app)
    assert old["retried_as"] == new["id"] and old["retried_by"] == requested_by
    new = get_job(new["id"], app=app)
    assert new["retry_of"] == job_id and new["name"] == old["name"]
    assert new["args_preview"] == old["args_preview"] and new["queue"] == old["queue"]
    return new


@pytest.mark.prefork
def test_failed_lost_and_cancelled_jobs_are_retried_on_a_prefork_worker(
        app: Celery, prefix: str, prefork_worker: Start) -> None:
    once = app.tasks["t.once"]
    cancelled = once.delay(7, f"{prefix}c", how="kill")  # no worker yet: it stays queued
    cancel_job(cancelled.id, "wrong batch", app=app)
    prefork_worker(app)
    failed = once.delay(1, f"{prefix}f")
    lost = once.delay(2, f"{prefix}l", how="kill")
    wait_for(lambda: status_of(app, failed.id) == "failed", 30, "the first run to fail")
    wait_for(lambda: status_of(app, lost.id) == "lost", 30, "the first run to be lost")
    assert status_of(app, cancelled.id) == "cancelled"
    app.backend.client.set(f"{prefix}c", "1")  # the cancelled one never ran: it must not die
    engine = get_tracker(app).existing_engine
    for job_id, value in ((failed.id, 2), (lost.id, 3), (cancelled.id, 8)):
        new = retried_and_succeeded(app, job_id)
        assert app.AsyncResult(new["id"]).get(timeout=10) == value
        wait_for(lambda j=job_id, n=new["id"]: (repository.get_job(engine, j) or {})
                 .get("retried_as") == n, 20, "the archived record to gain the link")
    with pytest.raises(JobNotRetryable, match="retried already as"):
        retry_job(failed.id, app=app)


def test_retrying_a_failed_chain_link_runs_the_links_after_it(app: Celery, prefix: str) -> None:
    with thread_worker(app):
        result = chain(app.tasks["t.add"].s(1, 2), app.tasks["t.once"].s(f"{prefix}k"),
                       app.tasks["t.add"].s(10)).apply_async()
        link = result.parent.id
        wait_for(lambda: status_of(app, link) == "failed", 20, "the middle link to fail")
        assert status_of(app, result.id) is None  # the last link was never published
        new = retried_and_succeeded(app, link)
        wait_for(lambda: status_of(app, result.id) == "succeeded", 20, "the last link to run")
    assert app.AsyncResult(result.id).get(timeout=10) == 14  # (1 + 2) + 1 + 10
    last = get_job(result.id, app=app)
    assert last["parent_id"] == new["id"] and last["pipeline_id"] == new["pipeline_id"]
    pipeline = list_jobs(pipeline_id=new["pipeline_id"], app=app)["items"]
    assert {j["id"] for j in pipeline} == {result.parent.parent.id, link, new["id"], result.id}


def test_a_job_in_another_status_or_without_its_message_is_refused(app: Celery,
                                                                  prefix: str) -> None:
    queued = app.tasks["t.add"].delay(1, 2)  # no worker: stays queued
    get_tracker(app).flush()
    with pytest.raises(JobNotRetryable, match="it is queued; only failed, lost or cancelled"):
        retry_job(queued.id, app=app)
    cancel_job(queued.id, "stop", app=app)
    tracker = get_tracker(app)
    assert tracker.redis.exists(tracker.keys.message(queued.id))
    tracker.redis.delete(tracker.keys.message(queued.id))
    with pytest.raises(JobNotRetryable, match="no longer kept") as err:
        retry_job(queued.id, app=app)
    assert err.value.status == "cancelled"
    assert get_job(queued.id, app=app)["retried_as"] is None
    with pytest.raises(JobNotFound):
        retry_job("nope", app=app)


def test_the_kept_message_is_never_in_the_record_nor_in_events(app: Celery) -> None:
    secret = "s3cr3t-value-kept-only-in-the-message"
    queued = app.tasks["t.add"].delay(1, 2, api_key=secret)
    tracker = get_tracker(app)
    tracker.flush()
    assert secret.encode() in tracker.redis.get(tracker.keys.message(queued.id))
    assert secret not in repr(get_job(queued.id, app=app))
    events = tracker.redis.xrange(tracker.keys.events)
    assert events and not any(secret.encode() in repr(e).encode() for e in events)
