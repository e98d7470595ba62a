"""What only a real prefork worker subprocess shows: killed children, resources,
a vanished worker, and archiving done by nothing more than ``celery worker``."""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from celery import Celery

from regiq_tasks import get_history, get_job, list_jobs
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.waiting import wait_for

pytestmark = pytest.mark.prefork


def status_of(app: Celery, job_id: str) -> str | None:
    job = get_job(job_id, app=app)
    return job["status"] if job else None


def test_a_pool_child_killed_mid_task_ends_lost_with_worker_lost_error(
        app: Celery, prefork_worker: Callable[..., Any]) -> None:
    prefork_worker(app)
    result = app.tasks["t.killself"].delay()
    wait_for(lambda: status_of(app, result.id) == "lost", 30, "job to become lost")
    job = get_job(result.id, app=app)
    assert job["error"]["type"] == "WorkerLostError"
    assert job["finished_at"] is not None
    # the worker replaced the child and goes on serving
    assert app.tasks["t.add"].delay(1, 1).get(timeout=20) == 2


def test_a_cpu_bound_task_reports_cpu_time_percent_and_peak_memory(
        app: Celery, prefork_worker: Callable[..., Any]) -> None:
    prefork_worker(app)
    result = app.tasks["t.spin"].delay(1.0)
    result.get(timeout=30)
    job = wait_for(lambda: (j := get_job(result.id, app=app)) and j["status"] == "succeeded"
                   and j, 10, "job to succeed")
    res = job["resources"]
    assert 0.9 <= res["cpu_time_s"] <= 1.0 + job["duration_s"]
    assert res["cpu_percent"] > 30
    assert res["peak_rss_bytes"] > 32 * 1024 * 1024  # the task holds a 32 MiB block


def test_running_jobs_of_a_vanished_worker_become_lost_through_the_reaper(
        make_app: Callable[..., Celery], prefork_worker: Callable[..., Any]) -> None:
    app = make_app(lost_after=2)
    doomed = prefork_worker(app, lost_after=2)
    result = app.tasks["t.hang"].delay("x")
    wait_for(lambda: status_of(app, result.id) == "running", 20, "job to run")
    doomed.kill(signal.SIGKILL)  # the whole worker, main process included: nobody reports
    prefork_worker(app, lost_after=2)  # any other worker runs the reaper
    wait_for(lambda: status_of(app, result.id) == "lost", 30, "reaper to mark it lost")
    job = get_job(result.id, app=app)
    assert job["error"]["type"] == "WorkerLostError"
    assert "no heartbeat" in job["error"]["message"]


def test_a_job_whose_worker_dies_after_acknowledging_it_and_before_starting_it_ends_lost(
        make_app: Callable[..., Celery], prefork_worker: Callable[..., Any]) -> None:
    # Celery's early acknowledgement: the main process acknowledges the message when a
    # pool process takes it, just before that process writes the job running. The gate
    # of the worker app holds t.gate in that moment, and the whole worker is killed.
    app = make_app(lost_after=2)
    doomed = prefork_worker(app, lost_after=2)
    result = app.tasks["t.gate"].delay()
    tracker = get_tracker(app)
    wait_for(lambda: tracker.redis.zscore(tracker.keys.running, result.id) is not None, 20,
             "the main process's accept mark")
    assert status_of(app, result.id) == "queued"  # taken, acknowledged, not started
    doomed.kill(signal.SIGKILL)
    prefork_worker(app, lost_after=2)  # any other worker runs the reaper
    wait_for(lambda: status_of(app, result.id) == "lost", 30, "reaper to mark it lost")
    job = get_job(result.id, app=app)
    assert job["error"]["type"] == "WorkerLostError" and job["started_at"] is None
    assert get_tracker(app).redis.zscore(tracker.keys.running, result.id) is None


def test_a_long_job_keeps_running_while_its_heartbeat_is_renewed(
        make_app: Callable[..., Celery], prefork_worker: Callable[..., Any]) -> None:
    app = make_app(lost_after=1.5)
    prefork_worker(app, lost_after=1.5)
    result = app.tasks["t.count"].delay(40, 4.0)  # 4 s: longer than lost_after
    assert result.get(timeout=30) == 40
    assert wait_for(lambda: status_of(app, result.id) == "succeeded", 10, "succeeded")


def test_a_plain_worker_archives_finished_jobs_within_two_seconds(
        app: Celery, prefork_worker: Callable[..., Any]) -> None:
    prefork_worker(app)
    results = [app.tasks["t.add"].delay(i, i) for i in range(20)]
    failing = app.tasks["t.fail"].delay()
    for r in results:
        r.get(timeout=20)
    with pytest.raises(ValueError):
        failing.get(timeout=20)
    finished = time.monotonic()
    ids = {r.id for r in results} | {failing.id}

    def archived() -> bool:
        items = get_history(app=app, limit=100)["items"]
        return ids <= {j["id"] for j in items}
    wait_for(archived, 10, "history rows")
    assert time.monotonic() - finished < 2.0 + 0.5  # 0.5 s of polling slack
    failed = get_history(app=app, status="failed")["items"]
    assert [j["id"] for j in failed] == [failing.id]
    assert failed[0]["error"]["type"] == "ValueError"


def test_progress_reaches_the_result_backend_as_a_progress_state(
        app: Celery, prefork_worker: Callable[..., Any]) -> None:
    prefork_worker(app)
    result = app.tasks["t.count"].delay(100, 3.0, "page")

    def progress_state() -> Any:
        return result.state == "PROGRESS" and result.info
    info = wait_for(progress_state, 20, "PROGRESS state in the result backend")
    assert info["total"] == 100 and 0 < info["current"] <= 100
    assert info["message"].startswith("page ")
    assert result.get(timeout=20) == 100
    assert result.state == "SUCCESS"


def test_a_small_job_after_a_big_one_in_the_same_process_reports_its_own_peak_rss(
        app: Celery, prefork_worker: Callable[..., Any]) -> None:
    prefork_worker(app, concurrency=1)  # one pool process runs both jobs
    big = app.tasks["t.bigmem"].delay(300)
    assert big.get(timeout=60) == 300
    small = app.tasks["t.add"].delay(1, 1)
    assert small.get(timeout=20) == 2

    def final(job_id: str) -> Any:
        return wait_for(lambda: (j := get_job(job_id, app=app)) and j["status"] == "succeeded"
                        and j, 10, f"job {job_id} to succeed")
    big_peak = final(big.id)["resources"]["peak_rss_bytes"]
    small_peak = final(small.id)["resources"]["peak_rss_bytes"]
    assert big_peak > 300 * 2**20
    assert small_peak < big_peak - 250 * 2**20  # measured during the small job only


def test_fast_jobs_keep_their_args_preview_when_the_queued_change_lands_last(
        make_app: Callable[..., Celery], prefork_worker: Callable[..., Any]) -> None:
    # the publisher flushes its queued changes only after the jobs are final
    app = make_app(flush_interval=30)
    prefork_worker(app)
    results = [app.tasks["t.add"].delay(i, 1, api_key="k") for i in range(20)]
    assert [r.get(timeout=30) for r in results] == [i + 1 for i in range(20)]
    wait_for(lambda: all(status_of(app, r.id) == "succeeded" for r in results), 10,
             "jobs to succeed")
    assert get_tracker(app).flush()  # now the late `queued` changes land: ignored
    previews = [get_job(r.id, app=app)["args_preview"] for r in results]
    assert previews == [f"{i}, 1, api_key=***" for i in range(20)]


def archived_ids(engine: Any) -> set[str]:
    with engine.connect() as connection:
        return {r[0] for r in connection.exec_driver_sql("SELECT id FROM job_history")}


def where_messages_are(app: Celery, ids: set[str], archived: set[str]) -> str:
    """For the jobs without a history row: their live status, and where kombu holds their
    message (the queue's list, the unacknowledged hash, or neither): a failure's clues."""
    client = app.backend.client
    prefix = app.conf.broker_transport_options["global_keyprefix"]
    queue = [json.loads(m)["headers"]["id"]
             for m in client.lrange(f"{prefix}{app.conf.task_default_queue}", 0, -1)]
    unacked = {tag.decode(): json.loads(v)[0]["headers"]["id"]
               for tag, v in client.hgetall(f"{prefix}unacked").items()}
    missing = sorted(ids - archived)
    where = {i: (status_of(app, i), "queue" if i in queue else
                 "unacked" if i in unacked.values() else "neither") for i in missing}
    return (f"{len(archived)} archived; missing {where}; queue holds {len(queue)}, "
            f"unacked {len(unacked)}")


def test_four_workers_one_killed_one_restarted_lose_no_job_and_run_none_twice(
        make_app: Callable[..., Celery], prefork_worker: Callable[..., Any],
        prefix: str) -> None:
    # Given four prefork workers with distinct host names, each in its own process group,
    # whose broker gives a killed worker's prefetched messages back after 3 s
    # (and judge a queued job whose message is nowhere after 3 s)
    app = make_app(lost_after=2)
    env = {"REGIQ_TEST_VISIBILITY_TIMEOUT": "3", "REGIQ_MESSAGE_LOST_AFTER": "3"}
    names = [f"w{i}-{uuid.uuid4().hex[:6]}@host{i}" for i in range(4)]
    workers = [prefork_worker(app, lost_after=2, env=env, name=name, ready=False)
               for name in names]
    for w in workers:
        w.wait_ready()
    bodies = f"{prefix}bodies"
    results = [app.tasks["t.nap"].delay(0.1, bodies) for _ in range(160)]
    ids = {r.id for r in results}

    def running_on(worker: str) -> bool:
        return bool(list_jobs(status="running", worker=worker, app=app)["items"])
    # When one worker's whole process group is SIGKILLed while it runs jobs
    wait_for(lambda: running_on(names[1]), 20, "a job running on the doomed worker")
    workers[1].kill(signal.SIGKILL)
    workers[1].process.wait(10)
    # and another gets a warm shutdown and comes back under the same name
    wait_for(lambda: running_on(names[2]), 20, "a job running on the restarted worker")
    workers[2].stop(group=False)
    prefork_worker(app, lost_after=2, env=env, name=names[2])

    # Then every job has exactly one history row
    engine = get_tracker(app).engine

    def archived() -> list[Any]:
        with engine.connect() as connection:
            rows = list(connection.exec_driver_sql(
                "SELECT id, status, worker, error_type FROM job_history"))
        return rows if len(rows) >= len(ids) else []
    try:
        rows = wait_for(archived, 45, "a history row for every job", interval=0.2)
    except AssertionError as timeout:
        clues = where_messages_are(app, ids, archived_ids(engine))
        raise AssertionError(f"{timeout}; {clues}") from timeout
    assert sorted(r[0] for r in rows) == sorted(ids)
    # the killed worker's running jobs are lost, once; every other job succeeded, but for
    # a message the killed worker may have taken off the queue and not yet recorded
    # (kombu's Redis transport loses it): its job ends lost too, never run
    lost = [r for r in rows if r[1] == "lost"]
    killed = [r for r in lost if r[3] == "WorkerLostError"]
    vanished = [r for r in lost if r[3] == "MessageLost"]
    assert killed and {r[2] for r in killed} == {names[1]}
    assert len(killed) + len(vanished) == len(lost) and {r[2] for r in vanished} <= {None}
    assert {r[1] for r in rows} == {"succeeded", "lost"}
    # no body ran twice, and no lost job ran again elsewhere
    client = app.backend.client
    ran = {k.decode(): int(v) for k, v in client.hgetall(bodies).items()}
    assert max(ran.values()) == 1
    assert {r[0] for r in rows if r[1] == "succeeded"} <= ran.keys()
    assert not {r[0] for r in vanished} & ran.keys()
    # its prefetched, unacknowledged messages came back and ran on the others
    redelivered = {k.decode() for k in client.hkeys(f"{bodies}:redelivered")}
    assert redelivered and not redelivered & {r[0] for r in lost}
    assert {r[2] for r in rows if r[0] in redelivered} <= set(names) - {names[1]}
    # and the metric counters saw each final status once
    tracker = get_tracker(app)
    counts = tracker.redis.hgetall(tracker.keys.metrics_cum("all"))
    assert int(counts[b"n:lost"]) == len(lost)
    assert int(counts[b"n:succeeded"]) == len(rows) - len(lost)


@pytest.mark.parametrize(("lost_after", "visibility_timeout", "comes_back"),
                         [(30, 3, "before"), (1, 15, "after")])
def test_with_acks_late_a_killed_workers_job_runs_again_unless_the_reaper_was_first(
        make_app: Callable[..., Celery], prefork_worker: Callable[..., Any], prefix: str,
        lost_after: float, visibility_timeout: float, comes_back: str) -> None:
    # Given a worker acknowledging messages after their task (acks_late), whose broker
    # gives unacknowledged messages back after the visibility timeout (the reaper's
    # verdict takes lost_after plus up to the 10 s lease the dead worker may have held)
    app = make_app(lost_after=lost_after)
    env = {"REGIQ_TEST_VISIBILITY_TIMEOUT": str(visibility_timeout),
           "REGIQ_TEST_ACKS_LATE": "1"}
    doomed = prefork_worker(app, lost_after=lost_after, env=env)
    bodies = f"{prefix}bodies"
    result = app.tasks["t.nap"].delay(2, bodies)
    wait_for(lambda: status_of(app, result.id) == "running", 20, "job to run")
    # When the worker is SIGKILLed mid-task and another one serves the queue
    doomed.kill(signal.SIGKILL)
    other = prefork_worker(app, lost_after=lost_after, env=env)
    client = app.backend.client
    if comes_back == "before":  # the message is back before the reaper's verdict
        job = wait_for(lambda: (j := get_job(result.id, app=app))["status"] == "succeeded"
                       and j, 30, "the job to run again and succeed")
        assert job["worker"] == other.name  # one record: running again, then its outcome
        assert client.hget(bodies, result.id) == b"1"
        assert client.hget(f"{bodies}:redelivered", result.id) == b"1"
    else:  # the reaper marked it lost first: lost is final, the message is not run
        wait_for(lambda: status_of(app, result.id) == "lost", 20, "reaper to mark it lost")
        wait_for(lambda: "had already ended lost" in other.log.read_text(), 30,
                 "the message to be delivered again and skipped")
        assert client.hget(bodies, result.id) is None
        assert status_of(app, result.id) == "lost"
        assert app.AsyncResult(result.id).state != "REVOKED"
