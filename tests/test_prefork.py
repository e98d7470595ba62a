"""What only a real prefork worker subprocess shows: killed children, resources,
a vanished worker, and archiving done by nothing more than ``celery worker``."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import pytest
from celery import Celery

from regiq_tasks import get_history, get_job
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
