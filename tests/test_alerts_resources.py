"""Resource alerts: conditions that raise after lasting a while and resolve themselves.

The queue and archive rules read a real Redis (and, for consumers, the workers that
answer ``inspect``); the alerts land in a real SQL ``alerts`` table. The engine's
durations and hysteresis are driven with readings and controlled times.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from celery import Celery

from regiq_tasks.alerts import Severity, alert_statistics, list_alerts, resolve_alert
from regiq_tasks.alerts.resource_rules import watch_resources
from regiq_tasks.alerts.watch import Reading, over, watch
from regiq_tasks.resources.sampler import WorkerSampler
from regiq_tasks.resources.workers import all_workers, get_worker
from regiq_tasks.store import Change
from regiq_tasks.tracking.tracker import get_tracker
from regiq_tasks.tracking.transitions import identity
from tests.fixtures.services import (
    ROOT,
    PreforkWorker,
    thread_worker,
    worker_with_housekeeper,
)
from tests.fixtures.waiting import wait_for


def queue_job(app: Celery, job_id: str, age_s: float, queue: str | None = None) -> None:
    """A tracked job queued ``age_s`` seconds ago on ``queue`` (default: the app's)."""
    created = time.time() - age_s
    fields: dict[str, Any] = {**identity(job_id, "t.add", created, {"pipeline_id": job_id}),
                              "type": "ingest", "queue": queue or app.conf.task_default_queue}
    get_tracker(app).store.apply(Change(job_id, status="queued", set=fields))


def alerts(app: Celery, rule: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = list_alerts(rule=rule, limit=100, app=app)["items"]
    return items


def watch_until(app: Celery, rule: str, status: str, count: int = 1) -> list[dict[str, Any]]:
    """Run the duty until ``count`` alerts of ``rule`` have ``status``."""
    tracker = get_tracker(app)

    def done() -> list[dict[str, Any]]:
        watch_resources(tracker)
        found = [a for a in alerts(app, rule) if a["status"] == status]
        return found if len(found) >= count else []
    return wait_for(done, 20, f"{count} {status} {rule} alert(s)", interval=0.1)


def test_a_backlog_raises_resolves_itself_and_reopens_as_a_new_occurrence(
        make_app: Callable[..., Celery], caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(alert_queue_wait=300)
    queue = app.conf.task_default_queue
    queue_job(app, "old-1", age_s=400)
    with caplog.at_level(logging.INFO, logger="regiq_tasks.alerts"):
        [raised] = watch_until(app, "queue_backlog", "open")
    assert raised["severity"] == "MEDIUM" and raised["subject"] == queue
    assert raised["fingerprint"] == f"queue_backlog:{queue}"
    assert raised["details"]["oldest_wait_s"] >= 399 and raised["details"]["threshold_s"] == 300
    assert "regiq alert raised" in caplog.text  # announced (log, Socket.IO, webhook)
    watch_resources(get_tracker(app))  # still held: no second row, no new count
    assert [(a["id"], a["count"]) for a in alerts(app, "queue_backlog")] == [(raised["id"], 1)]

    get_tracker(app).store.apply(Change("old-1", status="running",
                                        set={"started_at": time.time()}))
    [resolved] = watch_until(app, "queue_backlog", "resolved")
    assert resolved["id"] == raised["id"] and resolved["resolved_by"] == "auto"
    assert resolved["note"] == f"queue {queue}: the oldest job waits nothing now"

    queue_job(app, "old-2", age_s=500)
    reopened = watch_until(app, "queue_backlog", "open")
    assert reopened[0]["id"] != raised["id"]
    assert reopened[0]["fingerprint"] == raised["fingerprint"]
    stats = alert_statistics(app=app)
    assert stats["by_rule"]["queue_backlog"]["alerts"] == 2, stats


def test_no_consumer_raises_and_resolves_when_a_worker_consumes_the_queue(
        make_app: Callable[..., Celery]) -> None:
    app = make_app(alert_no_consumer_for=0)
    app.tasks["t.add"].delay(1, 2)  # queued; nobody consumes the queue
    [raised] = watch_until(app, "no_consumer", "open")
    assert raised["severity"] == "HIGH"
    assert raised["title"].endswith("jobs wait and no worker consumes it")
    with thread_worker(app):
        [resolved] = watch_until(app, "no_consumer", "resolved")
    assert resolved["resolved_by"] == "auto"
    assert "consume it now" in resolved["note"] or "no job waits" in resolved["note"]


def test_an_archive_lag_raises_and_resolves_itself(make_app: Callable[..., Celery]) -> None:
    app = make_app(archive_lag=60)
    tracker = get_tracker(app)
    old_ms = int((time.time() - 120) * 1000)
    entry = tracker.redis.xadd(tracker.keys.archive, {"id": "stuck"}, id=f"{old_ms}-0")
    [raised] = watch_until(app, "archive_lag", "open")
    assert raised["severity"] == "HIGH" and raised["details"]["backlog"] == 1
    tracker.redis.xdel(tracker.keys.archive, entry)
    [resolved] = watch_until(app, "archive_lag", "resolved")
    assert resolved["note"] == "archiver: 0 finished jobs wait now, the oldest for 0 s"


def test_an_alert_resolved_by_hand_while_it_holds_comes_back_as_a_new_occurrence(
        make_app: Callable[..., Celery]) -> None:
    app = make_app()
    queue_job(app, "old", age_s=1000)
    [first] = watch_until(app, "queue_backlog", "open")
    resolve_alert(first["id"], "looked at it", "ops", app=app)
    [again] = watch_until(app, "queue_backlog", "open")
    assert again["id"] != first["id"]


def reading(held: bool | None, after_s: float = 10.0) -> Reading:
    return Reading("disk_space", "w1:/data", held, Severity.HIGH, title="w1:/data is full",
                   cleared="w1:/data has room again", after_s=after_s, subject="w1")


def test_a_condition_raises_after_holding_and_resolves_after_being_clear_for_its_duration(
        app: Celery) -> None:
    tracker = get_tracker(app)
    t = time.time()
    assert watch(tracker, [reading(True)], now=t) == []  # held 0 s of 10
    assert watch(tracker, [reading(None)], now=t + 5) == []  # cannot tell: no change
    [(action, alert)] = watch(tracker, [reading(True)], now=t + 10)
    assert action == "raised" and alert["title"] == "w1:/data is full"
    assert watch(tracker, [reading(False)], now=t + 20) == []  # clear 0 s of 10
    assert watch(tracker, [reading(True)], now=t + 25) == []  # held again: still open
    assert watch(tracker, [reading(False)], now=t + 26) == []  # clear starts over
    assert watch(tracker, [reading(False)], now=t + 30) == []
    [(action, alert)] = watch(tracker, [reading(False)], now=t + 36)
    assert action == "resolved" and alert["note"] == "w1:/data has room again"
    assert alert["resolved_by"] == "auto"
    assert watch(tracker, [reading(False)], now=t + 50) == []  # nothing open, nothing to do
    assert tracker.redis.hlen(tracker.keys.alert_watch) == 0


def test_hysteresis_keeps_a_value_between_the_marks_as_it_was() -> None:
    assert over(300, 300) is True and over(1000, 300) is True
    assert over(290, 300) is None  # below the threshold, above 95% of it
    assert over(284, 300) is False and over(None, 300) is False


def test_a_worker_runs_the_duty_under_its_lease(make_app: Callable[..., Celery]) -> None:
    app = make_app(alert_watch_interval=0.2)
    queue_job(app, "stuck", age_s=900, queue="nobody-consumes-this")
    with worker_with_housekeeper(app):
        found = wait_for(lambda: [a for a in alerts(app, "queue_backlog")
                                  if a["subject"] == "nobody-consumes-this"], 20,
                         "the worker's duty to raise queue_backlog")
        tracker = get_tracker(app)
        assert tracker.redis.exists(tracker.keys.lock("alert-watch"))  # held by the worker
    assert found[0]["status"] == "open"


@pytest.mark.prefork
def test_a_killed_worker_raises_worker_offline_which_resolves_when_it_is_back(
        app: Celery, prefork_worker: Callable[..., PreforkWorker]) -> None:
    env = {"REGIQ_SAMPLE_INTERVAL": "0.5"}
    prefork_worker(app, env=env)
    doomed = prefork_worker(app, env=env)
    wait_for(lambda: doomed.name in {w["name"] for w in all_workers(app)}, 20, "sampled")
    doomed.kill()
    [raised] = watch_until(app, "worker_offline", "open")
    assert raised["severity"] == "HIGH" and raised["subject"] == doomed.name
    assert raised["fingerprint"] == f"worker_offline:{doomed.name}"
    back = prefork_worker(app, env=env, name=doomed.name)  # a worker of that name is back
    [resolved] = watch_until(app, "worker_offline", "resolved")
    assert resolved["id"] == raised["id"] and resolved["resolved_by"] == "auto"
    assert resolved["note"] == f"worker {back.name} samples again"


def sample_here(app: Celery, name: str) -> WorkerSampler:
    """One real sample of this process and host, written under worker ``name``."""
    sampler = WorkerSampler(app, name)
    assert sampler.tick()
    return sampler


def test_disk_space_raises_over_its_threshold_and_resolves_when_it_is_raised(
        make_app: Callable[..., Celery]) -> None:
    strict = make_app(disk_paths=str(ROOT))  # one path sampled
    sampler = sample_here(strict, "disk@here")
    try:
        disk = get_worker("disk@here", app=strict)["host"]["disk"][0]
        used = disk["used_percent"]
        assert 5 < used < 94, f"this test needs a disk between 5% and 94% full, not {used}"
        strict = make_app(alert_disk=used - 4, disk_paths=str(ROOT))  # the same keys, lower
        [raised] = watch_until(strict, "disk_space", "open")
        assert raised["severity"] == "HIGH"
        assert raised["details"]["path"] == disk["path"]
        assert raised["title"].endswith(f"% full (over {used - 4:g}%)")
        assert not [a for a in alerts(strict, "disk_space") if a["severity"] == "CRITICAL"]
        lenient = make_app(alert_disk=100, disk_paths=str(ROOT))  # raised threshold: it clears
        sampler.tick()
        [resolved] = watch_until(lenient, "disk_space", "resolved")
        assert resolved["id"] == raised["id"] and resolved["resolved_by"] == "auto"
        assert resolved["note"].startswith("host ") and "% full now" in resolved["note"]
    finally:
        sampler.stop()


def test_host_memory_over_its_threshold_raises_worker_memory(
        make_app: Callable[..., Celery]) -> None:
    app = make_app(alert_host_memory=1, alert_memory_for=0)
    sampler = sample_here(app, "mem@here")
    try:
        [raised] = watch_until(app, "worker_memory", "open")
        assert raised["fingerprint"].startswith("worker_memory:host:")
        assert raised["details"]["worker"] == "mem@here"
        sampler.stop()  # the worker goes away on purpose: its host is no longer reported
        [resolved] = watch_until(app, "worker_memory", "resolved")
        assert resolved["note"].endswith("no live worker reports its memory any more")
    finally:
        sampler.stop()
