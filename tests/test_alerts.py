"""Alert rules with real workers: final failures, retries, bursts, lost and overdue jobs."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from typing import Any

import pytest
from celery import Celery

from regiq_tasks import get_job
from regiq_tasks.housekeeping.keeper import start_housekeeper, stop_housekeeper
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.alerts import alert_worker, alerts_of, define_alert_tasks, wait_alert
from tests.fixtures.services import BROKERS
from tests.fixtures.waiting import wait_for

Start = Callable[..., Any]


def test_a_failing_task_yields_exactly_one_high_alert(app: Celery) -> None:
    define_alert_tasks(app)
    with alert_worker(app):
        failed = app.tasks["ta.broken"].delay("page 3 unreadable")
        alert = wait_alert(app, rule="job_failed")
        # a later failure of another type is evaluated after anything the first queued
        sentinel = app.tasks["t.fail"].delay()
        wait_alert(app, rule="job_failed", severity="CRITICAL")
    assert alert["severity"] == "HIGH" and alert["status"] == "open" and alert["count"] == 1
    assert alert["fingerprint"] == "job_failed:parse:ValueError"
    assert alert["subject"] == "parse"
    details = alert["details"]
    assert details["job_id"] == failed.id and details["job_ids"] == [failed.id]
    assert details["error"] == {"type": "ValueError", "message": "page 3 unreadable"}
    assert "page 3 unreadable" in details["traceback_excerpt"]
    assert details["job_link"] == f"/status/jobs/{failed.id}"
    alerts = alerts_of(app)
    assert len(alerts) == 2  # one per failure: the task option alert_severity=CRITICAL
    assert [a["count"] for a in alerts] == [1, 1]
    assert alerts[0]["details"]["job_id"] == sentinel.id


def test_a_retried_task_alerts_only_after_its_final_failure(app: Celery) -> None:
    with alert_worker(app):
        recovered = app.tasks["t.flaky"].delay(1)  # fails once, succeeds on its retry
        assert recovered.get(timeout=20) == 1
        doomed = app.tasks["t.flaky"].delay(5)  # 3 attempts (max_retries=2), then final
        alert = wait_alert(app, rule="job_failed")
    assert get_job(doomed.id, app=app)["retries"] == 2
    assert alert["count"] == 1 and alert["details"]["job_ids"] == [doomed.id]
    assert alert["details"]["error"]["type"] == "RuntimeError"
    assert alert["details"]["retries"] == 2
    assert len(alerts_of(app)) == 1


def test_n_failures_in_the_window_give_one_critical_alert_with_the_failures_seen(
        make_app: Callable[..., Celery]) -> None:
    app = make_app(failure_burst="3/600")
    define_alert_tasks(app)
    with alert_worker(app):
        jobs = [app.tasks["ta.broken"].delay() for _ in range(2)]
        wait_alert(app, rule="job_failed", count=2)
        assert alerts_of(app, rule="failure_burst") == []  # below the threshold
        jobs.append(app.tasks["ta.broken"].delay())
        burst = wait_alert(app, rule="failure_burst")
        assert burst["count"] == 3
        jobs.append(app.tasks["ta.broken"].delay())
        burst = wait_alert(app, rule="failure_burst", count=4)
        folded = wait_alert(app, rule="job_failed", count=4)
    assert burst["severity"] == "CRITICAL" and burst["subject"] == "parse"
    assert len(alerts_of(app, rule="failure_burst")) == 1
    assert burst["details"]["threshold"] == 3 and burst["details"]["window_s"] == 600
    assert burst["details"]["job_id"] == jobs[-1].id
    assert set(burst["details"]["job_ids"]) == {j.id for j in jobs[2:]}
    assert folded["details"]["job_ids"] == [j.id for j in jobs]
    assert folded["details"]["job_id"] == jobs[-1].id


def test_new_and_resolved_alerts_are_emitted_on_the_socketio_channel(app: Celery) -> None:
    from regiq_tasks.alerts import resolve_alert

    define_alert_tasks(app)
    tracker = get_tracker(app)
    pubsub = tracker.redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(tracker.keys.socketio_channel)
    messages: list[dict[str, Any]] = []

    def received(n: int) -> bool:
        message = pubsub.get_message(timeout=0.1)
        if message is not None:
            messages.append(json.loads(message["data"]))
        return len(messages) >= n

    with alert_worker(app):
        app.tasks["ta.broken"].delay()
        alert = wait_alert(app, rule="job_failed")
        wait_for(lambda: received(1), 20, "the new alert on the channel")
        app.tasks["ta.broken"].delay()  # a repeat: live views see the new count
        wait_for(lambda: received(2), 20, "the repeat on the channel")
        resolve_alert(alert["id"], "reprocessed the batch", "ops", app=app)
        wait_for(lambda: received(3), 20, "the resolution on the channel")
    pubsub.close()
    assert [(m["method"], m["event"], m["namespace"]) for m in messages] == \
        [("emit", "alert", "/")] * 3
    assert messages[0]["data"][0]["id"] == alert["id"]
    assert messages[0]["data"][0]["status"] == "open"
    assert messages[1]["data"][0]["count"] == 2
    assert messages[2]["data"][0]["status"] == "resolved"
    assert messages[2]["data"][0]["note"] == "reprocessed the batch"


@pytest.mark.prefork
@pytest.mark.parametrize("broker", BROKERS, indirect=True)
def test_a_pool_process_killed_mid_job_raises_a_job_lost_alert(
        app: Celery, prefork_worker: Start) -> None:
    prefork_worker(app)
    with alert_worker(app, alerts_only=True):
        result = app.tasks["t.killself"].delay()
        alert = wait_alert(app, timeout=40, rule="job_lost")
    assert alert["severity"] == "HIGH" and alert["subject"] == "killself"
    assert alert["details"]["job_id"] == result.id
    assert alert["details"]["error"]["type"] == "WorkerLostError"
    assert get_job(result.id, app=app)["status"] == "lost"


@pytest.mark.prefork
def test_jobs_of_a_vanished_worker_raise_job_lost_through_the_reaper(
        make_app: Callable[..., Celery], prefix: str, prefork_worker: Start) -> None:
    app = make_app(lost_after=2)
    worker = prefork_worker(app, lost_after=2)
    result = app.tasks["t.hang"].delay(f"{prefix}marker")
    wait_for(lambda: (j := get_job(result.id, app=app)) and j["status"] == "running", 30,
             "job to run")
    worker.kill(signal.SIGKILL)  # the whole worker vanishes: nobody reports the job
    start_housekeeper(app)  # this process's reaper takes over
    try:
        with alert_worker(app, alerts_only=True):
            alert = wait_alert(app, timeout=40, rule="job_lost")
    finally:
        stop_housekeeper(app)
    assert alert["details"]["job_id"] == result.id and alert["subject"] == "hang"
    assert alert["details"]["error"]["type"] == "WorkerLostError"


def test_a_job_running_past_its_expected_duration_raises_one_medium_alert(
        make_app: Callable[..., Celery], prefix: str) -> None:
    app = make_app(lost_after=2)  # the reaper (and the overdue check) pass every 0.5 s
    define_alert_tasks(app)
    release = f"{prefix}release"
    with alert_worker(app, pool="threads", concurrency=3):
        start_housekeeper(app)
        try:
            result = app.tasks["ta.slow"].delay(release)
            alert = wait_alert(app, rule="job_overdue")
            app.backend.client.set(release, "1", ex=60)
            assert result.get(timeout=20) == "released"
        finally:
            stop_housekeeper(app)
    assert alert["severity"] == "MEDIUM" and alert["subject"] == "slow"
    assert alert["details"]["job_id"] == result.id
    assert alert["details"]["expected_duration"] == 0.3
    assert alert["details"]["running_for_s"] > 0.3
    assert [a["count"] for a in alerts_of(app, rule="job_overdue")] == [1]  # reported once
