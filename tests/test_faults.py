"""Fault injection: Redis restarts while workers and the monitor run.

* The tracking Redis restarts empty (no persistence) or from its append-only file:
  10 jobs archived before, 40 sent afterwards, all 50 in the history once, 0 lost,
  0 duplicated, 0 dropped, within seconds and without restarting the worker.
* Jobs that finish while it is down reach a Redis that came back empty: their records
  are recreated whole (identity, preview, progress) and archived. A job still running
  is written again by its process's next heartbeat, and the reaper (its lease taken
  again) marks it lost if its worker then vanishes.
* The default configuration (broker, results and tracking in one Redis), restarted
  empty under a prefork worker: the worker reconnects (Celery/kombu 5.7), 0 lost.
* The live relay goes on relaying within seconds.
* A worker's resource sampling while the tracking Redis is down: the worker runs its
  jobs, logs the failed samples once, and samples again when Redis is back.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery
from sqlalchemy import func, select

from regiq_tasks import get_job, list_jobs, list_workers
from regiq_tasks.history import JobHistory
from regiq_tasks.history.repository import get_job as history_job
from regiq_tasks.housekeeping.keeper import start_housekeeper, stop_housekeeper
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.live import JobWriter, LiveClient, ServedMonitor
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.services import status_or_none, worker_with_housekeeper
from tests.fixtures.waiting import wait_for

RECOVER_WITHIN = 15.0  # s: back within seconds, not at the next worker restart


def history_counts(app: Celery) -> dict[str, int]:
    """History rows per job id."""
    with get_tracker(app).engine.connect() as conn:
        rows = conn.execute(select(JobHistory.id, func.count()).group_by(JobHistory.id))
        return {job_id: count for job_id, count in rows}


def dropped(app: Celery) -> int:
    """Archive entries the archiver acknowledged without a history row."""
    tracker = get_tracker(app)
    return int(tracker.redis.get(tracker.keys.archive_dropped) or 0)


def run_jobs(app: Celery, n: int, start: int = 0) -> list[str]:
    """Send n jobs, wait for their results; their ids."""
    results = [app.tasks["t.add"].delay(i, i) for i in range(start, start + n)]
    assert [r.get(timeout=30) for r in results] == [2 * i for i in range(start, start + n)]
    return [r.id for r in results]


def wait_archived(app: Celery, ids: list[str], timeout: float = RECOVER_WITHIN) -> None:
    wait_for(lambda: set(ids) <= set(history_counts(app)), timeout,
             f"{len(ids)} jobs to reach the history")


def assert_archived_once(app: Celery, before: list[str], after: list[str]) -> None:
    """Every job in the history exactly once, nothing else, nothing dropped."""
    counts = history_counts(app)
    lost = set(before + after) - set(counts)
    duplicated = {job_id: n for job_id, n in counts.items() if n != 1}
    assert (len(lost), len(duplicated)) == (0, 0), (lost, duplicated)
    assert len(counts) == len(before) + len(after)
    engine = get_tracker(app).engine
    for job_id in after:
        record = history_job(engine, job_id)
        assert record is not None and record["status"] == "succeeded"
        assert record["name"] == "t.add" and record["args_preview"]
    assert dropped(app) == 0


def restart(server: RedisServer) -> None:
    server.stop()
    server.start()


@pytest.mark.parametrize("persistent", [False, True], ids=["empty", "aof"])
def test_jobs_sent_after_a_tracking_redis_restart_reach_the_history_once(
        make_app: Callable[..., Celery], redis_url: str, tmp_path: Path,
        persistent: bool) -> None:
    server = RedisServer(tmp_path / "tracking-redis", persistent=persistent).start()
    try:
        app = make_app(redis_url=server.url, broker_url=redis_url)
        keys = get_tracker(app).keys
        with worker_with_housekeeper(app):
            before = run_jobs(app, 10)
            wait_archived(app, before)  # the archiver's group exists (and was cached)
            restart(server)
            came_back_with = redis.Redis.from_url(server.url).exists(keys.job(before[0]))
            after = run_jobs(app, 40, start=10)
            wait_archived(app, after)
        assert came_back_with == (1 if persistent else 0)
        assert_archived_once(app, before, after)
    finally:
        server.stop()


def test_jobs_that_finish_while_redis_is_down_are_archived_whole_after_it_comes_back_empty(
        make_app: Callable[..., Celery], redis_url: str, volatile_redis: RedisServer) -> None:
    app = make_app(redis_url=volatile_redis.url, broker_url=redis_url)
    with worker_with_housekeeper(app):
        before = run_jobs(app, 3)
        wait_archived(app, before)
        running = app.tasks["t.count"].delay(10, 1.5, "page")
        wait_for(lambda: status_or_none(app, running.id) == "running", 10, "job to run")
        volatile_redis.stop()
        during = app.tasks["t.add"].delay(20, 22, api_key="hunter2")
        assert running.get(timeout=20) == 10 and during.get(timeout=20) == 42
        volatile_redis.start()  # empty: the running job's record is gone
        wait_archived(app, [running.id, during.id])
    engine = get_tracker(app).engine
    job: Any = history_job(engine, running.id)
    assert job["status"] == "succeeded" and job["name"] == "t.count"
    assert job["type"] == "count" and job["args_preview"] == "10, 1.5, 'page'"
    assert job["created_at"] and job["finished_at"] and job["progress"]["current"] == 10
    other: Any = history_job(engine, during.id)
    assert other["status"] == "succeeded" and other["args_preview"] == "20, 22, api_key=***"
    # recreated records are indexed like any other
    listed = {j["id"] for j in list_jobs(app=app, status="succeeded", limit=500)["items"]}
    assert {running.id, during.id} <= listed
    assert dropped(app) == 0
    assert len(history_counts(app)) == 5


def test_a_job_running_across_an_empty_restart_is_written_again_within_a_heartbeat(
        make_app: Callable[..., Celery], redis_url: str, volatile_redis: RedisServer) -> None:
    app = make_app(redis_url=volatile_redis.url, broker_url=redis_url, lost_after=4)
    tracker = get_tracker(app)  # lost_after 4 s: a heartbeat every second
    with worker_with_housekeeper(app):
        running = app.tasks["t.count"].delay(60, 6.0, "page")
        wait_for(lambda: status_or_none(app, running.id) == "running", 10, "job to run")
        restart(volatile_redis)
        job = wait_for(lambda: (j := get_job(running.id, app=app)) and j, RECOVER_WITHIN,
                       "the running job to be written again")
        assert job["status"] == "running" and job["name"] == "t.count"
        assert job["worker"] and job["started_at"] and job["args_preview"]
        assert tracker.redis.zscore(tracker.keys.running, running.id) is not None  # reapable
        assert running.get(timeout=30) == 60
        wait_archived(app, [running.id])
    record: Any = history_job(tracker.engine, running.id)
    assert record["status"] == "succeeded" and record["progress"]["current"] == 60


@pytest.mark.prefork
def test_after_an_empty_restart_the_reaper_still_marks_a_vanished_workers_job_lost(
        make_app: Callable[..., Celery], redis_url: str, volatile_redis: RedisServer,
        prefork_worker: Callable[..., Any]) -> None:
    app = make_app(redis_url=volatile_redis.url, broker_url=redis_url, lost_after=2)
    doomed = prefork_worker(app, lost_after=2, tracking_redis_url=volatile_redis.url,
                            broker_url=redis_url)
    start_housekeeper(app)  # a second worker's housekeeping: leases decide who reaps
    try:
        result = app.tasks["t.hang"].delay("x")
        wait_for(lambda: status_or_none(app, result.id) == "running", 20, "job to run")
        restart(volatile_redis)  # the reaper lease, the running set and the record go
        wait_for(lambda: status_or_none(app, result.id) == "running", RECOVER_WITHIN,
                 "the running job to be written again by its heartbeat")
        doomed.kill()  # the whole worker: nobody reports the job's end
        wait_for(lambda: status_or_none(app, result.id) == "lost", RECOVER_WITHIN,
                 "the reaper to mark it lost")
        wait_archived(app, [result.id])
    finally:
        stop_housekeeper(app)
    record: Any = history_job(get_tracker(app).engine, result.id)
    assert record["status"] == "lost" and record["error"]["type"] == "WorkerLostError"
    assert record["name"] == "t.hang"


@pytest.mark.prefork
def test_a_pool_child_killed_while_redis_is_down_ends_lost_with_its_identity_after_an_empty_restart(
        make_app: Callable[..., Celery], redis_url: str, volatile_redis: RedisServer,
        prefork_worker: Callable[..., Any]) -> None:
    """The worker's main process reports the child's WorkerLostError into a Redis that is
    down, then comes back empty: the recreated record still says what job it was."""
    app = make_app(redis_url=volatile_redis.url, broker_url=redis_url)
    worker = prefork_worker(app, tracking_redis_url=volatile_redis.url, broker_url=redis_url)
    result = app.tasks["t.hang"].delay("x")
    job = wait_for(lambda: (j := get_job(result.id, app=app)) and j["metadata"] and j, 20,
                   "the job to report its pid")
    volatile_redis.stop()
    os.kill(int(job["metadata"]["pid"]), signal.SIGKILL)
    wait_for(lambda: "WorkerLostError" in worker.log.read_text(), 20,
             "the worker to report the lost child")
    volatile_redis.start()
    wait_for(lambda: status_or_none(app, result.id) == "lost", RECOVER_WITHIN,
             "the job to end lost")
    record: Any = get_job(result.id, app=app)
    assert (record["name"], record["type"]) == ("t.hang", "hang")
    assert record["error"]["type"] == "WorkerLostError"
    assert result.id in {j["id"] for j in list_jobs(app=app, type="hang")["items"]}


@pytest.mark.prefork
def test_with_redis_as_the_broker_too_a_worker_reconnects_and_jobs_sent_afterwards_are_archived(
        make_app: Callable[..., Celery], prefork_worker: Callable[..., Any],
        volatile_redis: RedisServer) -> None:
    """The default configuration: broker, results and tracking in one Redis, restarted
    empty. With Celery/kombu 5.7 the worker logs "Connection to broker lost", reconnects,
    declares its queue again and goes on consuming; what was queued in the broker at the
    restart is gone with it. Older releases could stop consuming or exit here
    (celery/celery#8091, celery/kombu#1552): the README says how to run workers for that."""
    app = make_app(redis_url=volatile_redis.url)
    worker = prefork_worker(app, broker_url=volatile_redis.url)
    before = run_jobs(app, 10)
    wait_archived(app, before)
    restart(volatile_redis)
    after = run_jobs(app, 40, start=10)
    wait_archived(app, after)
    assert worker.process.poll() is None, worker.log.read_text()[-3000:]
    assert "Connection to broker lost" in worker.log.read_text()
    assert_archived_once(app, before, after)


@pytest.mark.prefork
def test_a_worker_runs_its_jobs_while_samples_cannot_be_written_and_samples_again_after(
        make_app: Callable[..., Celery], redis_url: str, volatile_redis: RedisServer,
        prefork_worker: Callable[..., Any]) -> None:
    app = make_app(redis_url=volatile_redis.url, broker_url=redis_url)
    worker = prefork_worker(app, tracking_redis_url=volatile_redis.url, broker_url=redis_url,
                            env={"REGIQ_SAMPLE_INTERVAL": "0.5"})

    def listed() -> bool:
        return worker.name in {w["name"] for w in list_workers(app=app)["items"]}

    wait_for(listed, 20, "the worker's first sample")
    volatile_redis.stop()
    # the broker is another Redis: jobs arrive and run while samples fail, among them
    # one that lasts four sample intervals
    long_job = app.tasks["t.sleep"].delay(2.0)
    assert run_jobs(app, 5) and long_job.get(timeout=30) == 2.0
    wait_for(lambda: "not written" in worker.log.read_text(), 10, "a failed sample logged")
    assert worker.process.poll() is None
    volatile_redis.start()  # empty: listed again only by new samples
    wait_for(listed, RECOVER_WITHIN, "sampling to resume")
    recovered = wait_for(lambda: re.search(r"written again after (\d+) failed",
                                           worker.log.read_text()), 5, "the recovery logged")
    assert int(recovered.group(1)) >= 3  # it kept trying through the outage
    log = worker.log.read_text()
    assert log.count("resource sample of") == 1, log[-3000:]  # one warning a minute at most
    assert worker.process.poll() is None


def test_the_live_relay_goes_on_relaying_after_redis_comes_back_empty(
        make_app: Callable[..., Celery], prefix: str, sqlite_url: str,
        volatile_redis: RedisServer, tmp_path: Path) -> None:
    app = make_app(redis_url=volatile_redis.url)
    jobs = JobWriter(get_tracker(app).store)
    env = {"REGIQ_TEST_PREFIX": prefix, "REGIQ_TEST_REDIS_URL": volatile_redis.url,
           "REGIQ_TEST_DATABASE_URL": sqlite_url}
    monitor = ServedMonitor(env, tmp_path / "monitor.log", {}).wait_ready()
    client = LiveClient()
    try:
        client.connect(monitor.url).subscribe(all=True)
        jobs.run("before")
        wait_for(lambda: client.last_status("before") == "succeeded", 10, "a relayed job")
        restart(volatile_redis)  # events, relay position, lease and rooms are gone
        sent: list[str] = []

        def one_more_arrives() -> bool:
            # Socket.IO's own Redis listener resubscribes about 1 s after a restart: what
            # the relay emits before that is lost to live views (the records are not)
            sent.append(f"after-{len(sent)}")
            jobs.run(sent[-1])
            return any(client.last_status(job_id) == "succeeded" for job_id in sent)
        wait_for(one_more_arrives, RECOVER_WITHIN, "the relay to go on after the restart",
                 interval=0.25)
    finally:
        client.close()
        monitor.stop()
