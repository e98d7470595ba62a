"""Cancellation against real prefork workers: queued, cooperative, forced, pipelines."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from celery import Celery, chain

from regiq_tasks import (
    JobNotCancellable,
    JobNotFound,
    cancel_job,
    cancel_pipeline,
    get_history,
    get_job,
)
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.services import BROKERS
from tests.fixtures.waiting import wait_for

# Against both brokers users run (issue 15): Redis and RabbitMQ.
pytestmark = [pytest.mark.prefork, pytest.mark.parametrize("broker", BROKERS, indirect=True)]
Start = Callable[..., Any]


def status_of(app: Celery, job_id: str) -> str | None:
    job = get_job(job_id, app=app)
    return job["status"] if job else None


def broker_queue_empty(app: Celery, prefix: str) -> bool:
    client = app.backend.client
    return client.llen(f"{prefix}celery:{prefix}q") == 0


def test_a_queued_job_is_cancelled_at_once_and_never_runs_even_after_worker_restarts(
        app: Celery, prefix: str, prefork_worker: Start) -> None:
    marker = f"{prefix}ran"
    result = app.tasks["t.mark"].delay(marker)  # no worker is up: it stays queued
    job = cancel_job(result.id, "superseded by batch 7", requested_by="ops", app=app)
    assert job["status"] == "cancelled" and job["started_at"] is None
    assert job["cancel"]["reason"] == "superseded by batch 7"
    assert job["cancel"]["requested_by"] == "ops" and job["cancel"]["requested_at"]
    # a worker that never saw a revoke picks the message up: the record stops it
    prefork_worker(app)
    follow_up = app.tasks["t.add"].delay(1, 1)
    assert follow_up.get(timeout=20) == 2  # the queue was served past the cancelled job
    wait_for(lambda: broker_queue_empty(app, prefix), 10, "queue drained")
    assert app.backend.client.get(marker) is None, "the cancelled job's body ran"
    job = get_job(result.id, app=app)
    assert job["status"] == "cancelled" and job["started_at"] is None
    wait_for(lambda: any(j["id"] == result.id for j in
                         get_history(status="cancelled", app=app)["items"]), 10, "history")


def test_a_running_job_stops_at_its_next_progress_runs_finally_and_is_not_retried(
        app: Celery, prefix: str, prefork_worker: Start) -> None:
    prefork_worker(app)
    finally_key = f"{prefix}finally"
    result = app.tasks["t.cooperative"].delay(1000, 0.01, finally_key)
    wait_for(lambda: (j := get_job(result.id, app=app)) and j["progress"] and
             j["progress"]["current"] >= 20, 20, "job to make progress")
    job = cancel_job(result.id, "wrong input file", app=app)
    assert job["status"] == "running" and job["cancel"]["requested"] is True
    wait_for(lambda: status_of(app, result.id) == "cancelled", 10, "job to stop")
    job = get_job(result.id, app=app)
    assert 20 <= job["progress"]["current"] < 1000
    assert job["retries"] == 0 and job["error"] is None
    assert job["cancel"]["reason"] == "wrong input file"
    assert app.backend.client.get(finally_key) == b"ran"


def test_check_cancelled_stops_a_job_that_does_not_report_progress(
        app: Celery, prefork_worker: Start) -> None:
    prefork_worker(app)
    result = app.tasks["t.checker"].delay(30)
    wait_for(lambda: status_of(app, result.id) == "running", 20, "job to run")
    cancel_job(result.id, "no longer needed", app=app)
    wait_for(lambda: status_of(app, result.id) == "cancelled", 10, "job to stop")


def test_a_job_that_never_checks_is_terminated_after_the_grace_period(
        app: Celery, prefork_worker: Start) -> None:
    prefork_worker(app, cancel_grace=1)
    result = app.tasks["t.sleep"].delay(60)
    wait_for(lambda: status_of(app, result.id) == "running", 20, "job to run")
    cancel_job(result.id, "runaway", terminate=True, app=app)
    assert status_of(app, result.id) == "running"  # cooperative first
    wait_for(lambda: status_of(app, result.id) == "cancelled", 20, "forced stop")
    job = get_job(result.id, app=app)
    assert job["cancel"]["reason"] == "runaway" and job["error"] is None
    assert app.tasks["t.add"].delay(2, 2).get(timeout=20) == 4  # the child was replaced


def test_a_terminate_never_hits_the_next_job_of_the_same_process(
        app: Celery, prefork_worker: Start) -> None:
    prefork_worker(app, concurrency=1, cancel_grace=2)
    first = app.tasks["t.sleep"].delay(0.5)  # finishes inside the grace period
    second = app.tasks["t.sleep"].delay(4)  # then runs in the same (only) child
    wait_for(lambda: status_of(app, first.id) == "running", 20, "first job to run")
    cancel_job(first.id, "stop it", terminate=True, app=app)
    assert second.get(timeout=30) == 4
    wait_for(lambda: status_of(app, second.id) == "succeeded", 10, "second job recorded")
    job = get_job(first.id, app=app)  # it ended on its own before the grace was over
    assert job["status"] == "succeeded" and job["cancel"]["reason"] == "stop it"


def test_a_job_cancelled_without_terminate_that_never_checks_keeps_its_real_outcome(
        app: Celery, prefork_worker: Start) -> None:
    prefork_worker(app)
    result = app.tasks["t.sleep"].delay(1)
    wait_for(lambda: status_of(app, result.id) == "running", 20, "job to run")
    cancel_job(result.id, "too late", app=app)
    assert result.get(timeout=20) == 1
    job = wait_for(lambda: (j := get_job(result.id, app=app)) and j["status"] != "running"
                   and j, 10, "job to finish")
    assert job["status"] == "succeeded" and job["cancel"]["reason"] == "too late"


def test_cancelling_a_pipeline_stops_its_running_job_and_its_unpublished_links(
        app: Celery, prefix: str, prefork_worker: Start) -> None:
    prefork_worker(app)
    first = app.tasks["t.cooperative"].s(1000, 0.01, f"{prefix}f1")
    marker = f"{prefix}third-ran"
    result = chain(first, app.tasks["t.mark"].si(marker), app.tasks["t.mark"].si(marker)) \
        .apply_async()
    head = result.parent.parent.id
    wait_for(lambda: status_of(app, head) == "running", 20, "first link to run")
    summary = cancel_pipeline(head, "batch withdrawn", requested_by="ops", app=app)
    assert summary["pipeline_id"] == head
    wait_for(lambda: status_of(app, head) == "cancelled", 10, "first link to stop")
    assert status_of(app, result.id) in (None, "cancelled")
    assert app.backend.client.get(marker) is None


def test_later_jobs_of_a_cancelled_pipeline_are_cancelled_when_they_start(
        app: Celery, prefix: str, prefork_worker: Start) -> None:
    # the running link never checks, so it publishes the next one: that one must not run
    prefork_worker(app)
    marker = f"{prefix}next-ran"
    result = chain(app.tasks["t.sleep"].si(1.5), app.tasks["t.mark"].si(marker)).apply_async()
    head = result.parent.id
    wait_for(lambda: status_of(app, head) == "running", 20, "first link to run")
    cancel_pipeline(root_id=head, reason="withdrawn", app=app)
    wait_for(lambda: status_of(app, result.id) == "cancelled", 20, "next link cancelled")
    assert app.backend.client.get(marker) is None
    assert get_job(result.id, app=app)["cancel"]["reason"] == "withdrawn"


def test_finished_and_unknown_jobs_are_refused_with_typed_errors(
        app: Celery, prefork_worker: Start) -> None:
    prefork_worker(app)
    done = app.tasks["t.add"].delay(1, 2)
    done.get(timeout=20)
    wait_for(lambda: status_of(app, done.id) == "succeeded", 10, "succeeded")
    with pytest.raises(JobNotCancellable, match="is succeeded and cannot be cancelled"):
        cancel_job(done.id, "late", app=app)
    with pytest.raises(JobNotFound, match="no job with id 'nope'"):
        cancel_job("nope", "x", app=app)
    with pytest.raises(ValueError, match="^reason:"):
        cancel_job(done.id, "  ", app=app)
    with pytest.raises(ValueError, match="^terminate:"):
        cancel_job(done.id, "x", terminate="yes", app=app)  # type: ignore[arg-type]


def test_a_second_cancel_keeps_the_first_reason_and_changes_nothing(
        app: Celery, prefix: str, prefork_worker: Start) -> None:
    queued = app.tasks["t.add"].delay(1, 2)  # no worker yet: queued
    first = cancel_job(queued.id, "first reason", requested_by="alice", app=app)
    again = cancel_job(queued.id, "second reason", requested_by="bob", app=app)
    assert again == first and again["cancel"]["reason"] == "first reason"
    prefork_worker(app)
    running = app.tasks["t.cooperative"].delay(1000, 0.01, f"{prefix}f")
    wait_for(lambda: status_of(app, running.id) == "running", 20, "job to run")
    first = cancel_job(running.id, "first reason", requested_by="alice", app=app)
    again = cancel_job(running.id, "second reason", requested_by="bob", terminate=True,
                       app=app)
    assert again["cancel"] == first["cancel"]
    wait_for(lambda: status_of(app, running.id) == "cancelled", 10, "job to stop")
    assert get_job(running.id, app=app)["cancel"]["reason"] == "first reason"


def test_cancel_requests_and_the_final_status_go_to_the_event_stream(
        app: Celery, prefork_worker: Start, prefix: str) -> None:
    prefork_worker(app)
    result = app.tasks["t.cooperative"].delay(1000, 0.01, f"{prefix}f")
    wait_for(lambda: status_of(app, result.id) == "running", 20, "job to run")
    cancel_job(result.id, "stop", app=app)
    wait_for(lambda: status_of(app, result.id) == "cancelled", 10, "job to stop")
    tracker = get_tracker(app)
    events = [(f[b"status"].decode(), json.loads(f[b"data"]))
              for _, f in tracker.redis.xrange(tracker.keys.events)
              if f[b"id"].decode() == result.id]
    requested = next(i for i, (_, d) in enumerate(events) if "cancel" in d)
    assert events[requested][0] == "running"
    assert events[-1][0] == "cancelled" and requested < len(events) - 1


def test_a_revoke_from_outside_regiq_lands_as_cancelled_live_and_in_history(
        app: Celery, prefix: str, prefork_worker: Start) -> None:
    prefork_worker(app, concurrency=1)
    busy = app.tasks["t.sleep"].delay(2)
    wait_for(lambda: status_of(app, busy.id) == "running", 20, "busy job to run")
    result = app.tasks["t.mark"].delay(f"{prefix}m")  # waits behind the busy job
    app.control.revoke(result.id)  # what Flower and `celery control revoke` send
    wait_for(lambda: status_of(app, result.id) == "cancelled", 20, "revoke to land")
    job = get_job(result.id, app=app)
    assert job["cancel"]["reason"] == "revoked outside regiq"
    assert job["cancel"]["requested_by"] is None
    wait_for(lambda: any(j["id"] == result.id for j in
                         get_history(status="cancelled", app=app)["items"]), 10, "history")
    assert app.backend.client.get(f"{prefix}m") is None
