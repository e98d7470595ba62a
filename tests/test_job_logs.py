"""Job logs: kept in order, bounded, masked, archived with the job, apart per thread."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker

from regiq_tasks import JobNotFound, get_history, get_job, get_job_logs
from regiq_tasks.tracking.logbuffer import PendingLogs
from regiq_tasks.tracking.logcapture import JobLogHandler
from regiq_tasks.tracking.runtime import JobRuntime, set_current_runtime
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.services import thread_worker, worker_with_housekeeper
from tests.fixtures.waiting import wait_for


def run_logs(app: Celery, steps: list[dict[str, Any]], timeout: float = 20) -> str:
    result = app.tasks["t.logs"].delay(steps)
    result.get(timeout=timeout)
    wait_for(lambda: (get_job(result.id, app=app) or {}).get("status") == "succeeded", 10,
             "job to succeed")
    return result.id


def messages(page: dict[str, Any]) -> list[str]:
    return [line["message"] for line in page["items"]]


def test_a_jobs_lines_are_kept_in_order_with_level_logger_and_secrets_masked(
        app: Celery, worker: Any) -> None:
    job_id = run_logs(app, [
        {"message": "parsing d1"},
        {"message": "noise", "level": "DEBUG"},  # below REGIQ_JOB_LOG_LEVEL: not kept
        {"message": "connecting postgresql://u:hunter2@db/x password=hunter2",
         "logger": "vendor.db", "level": "WARNING"},
        {"message": "sending Bearer abcdef123456", "logger": "vendor.http"},
        {"message": "done", "level": "ERROR"},
    ])
    page = get_job_logs(job_id, app=app)
    assert messages(page) == ["parsing d1",
                              "connecting postgresql://u:***@db/x password=***",
                              "sending Bearer ***", "done"]
    assert [(x["level"], x["logger"]) for x in page["items"]] == [
        ("INFO", "t.logs"), ("WARNING", "vendor.db"), ("INFO", "vendor.http"),
        ("ERROR", "t.logs")]
    assert all(x["at"].endswith("Z") for x in page["items"])
    assert page["dropped"] == 0 and page["next_cursor"] is None


def test_only_the_last_lines_are_kept_and_dropped_counts_the_others(
        make_app: Callable[..., Celery]) -> None:
    app = make_app(job_log_lines=5)
    with thread_worker(app):
        job_id = run_logs(app, [{"message": f"line {i}"} for i in range(12)])
    page = get_job_logs(job_id, app=app)
    assert messages(page) == [f"line {i}" for i in range(7, 12)]
    assert page["dropped"] == 7


def test_the_kept_lines_fit_in_the_byte_bound(make_app: Callable[..., Celery]) -> None:
    app = make_app(job_log_bytes=1000)
    with thread_worker(app):
        job_id = run_logs(app, [{"message": f"{i:02d}" + "x" * 98} for i in range(30)])
    page = get_job_logs(job_id, limit=500, app=app)
    kept = messages(page)
    assert kept[-1].startswith("29") and 3 <= len(kept) < 10
    assert [int(m[:2]) for m in kept] == list(range(30 - len(kept), 30))
    assert page["dropped"] == 30 - len(kept)
    stored = get_tracker(app).redis.hget(get_tracker(app).keys.job_logs(job_id), "bytes")
    assert int(stored) <= 1000


def test_pages_follow_the_cursor_oldest_first(app: Celery, worker: Any) -> None:
    job_id = run_logs(app, [{"message": f"m{i}"} for i in range(7)])
    seen, cursor = [], None
    for _ in range(5):
        page = get_job_logs(job_id, limit=3, cursor=cursor, app=app)
        seen += messages(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"m{i}" for i in range(7)]


def test_a_running_job_keeps_a_cursor_to_tail_its_new_lines(app: Celery, worker: Any) -> None:
    gate = f"{get_tracker(app).keys.prefix}gate"
    result = app.tasks["t.logs"].delay([{"message": "first"}, {"wait": gate},
                                        {"message": "second"}])
    page = wait_for(lambda: (p := get_job_logs(result.id, app=app))["items"] and p, 10,
                    "the first line")
    assert messages(page) == ["first"] and page["next_cursor"] is not None
    get_tracker(app).redis.set(gate, 1)
    result.get(timeout=10)
    wait_for(lambda: get_job(result.id, app=app)["status"] == "succeeded", 10, "the end")
    tail = get_job_logs(result.id, cursor=page["next_cursor"], app=app)
    assert messages(tail) == ["second"] and tail["next_cursor"] is None


def test_an_unknown_job_has_no_logs_and_bad_input_names_the_parameter(app: Celery) -> None:
    with pytest.raises(JobNotFound):
        get_job_logs("no-such-job", app=app)
    with pytest.raises(ValueError, match="cursor"):
        get_job_logs("x", cursor="!!", app=app)
    with pytest.raises(ValueError, match="limit"):
        get_job_logs("x", limit=0, app=app)


def test_a_failing_sink_is_swallowed_and_counted_and_threads_without_a_job_cost_nothing() -> None:
    class Broken(PendingLogs):
        def add(self, job_id: str, line: Any) -> None:
            raise RuntimeError("full")

    handler = JobLogHandler(logging.INFO)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    assert handler.handle(record) is False and handler.errors == 0  # no job in this thread
    rt = JobRuntime("j1", type("T", (), {"name": "t"})(), 0.0, 0)
    rt.logs = Broken(10, 1000)
    set_current_runtime(rt)
    try:
        handler.handle(record)
    finally:
        set_current_runtime(None)
    assert handler.errors == 1


def test_two_jobs_of_a_thread_pool_keep_their_lines_apart(app: Celery) -> None:
    gate = f"{get_tracker(app).keys.prefix}gate"
    steps = [[{"wait": gate}, *({"message": f"{tag}{i}"} for i in range(30))]
             for tag in ("a", "b")]
    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False,
                      loglevel="WARNING", shutdown_timeout=10):
        results = [app.tasks["t.logs"].delay(s) for s in steps]
        wait_for(lambda: all((get_job(r.id, app=app) or {}).get("status") == "running"
                             for r in results), 10, "both jobs to run")
        get_tracker(app).redis.set(gate, 1)
        for r in results:
            r.get(timeout=20)
    for tag, r in zip(("a", "b"), results):
        wait_for(lambda r=r: get_job(r.id, app=app)["status"] == "succeeded", 10, "end")
        assert messages(get_job_logs(r.id, app=app)) == [f"{tag}{i}" for i in range(30)]


def test_archived_logs_are_read_from_the_history_after_the_job_left_redis(
        make_app: Callable[..., Celery], database_url: str, history_engine: Any) -> None:
    app = make_app(database_url=database_url, job_log_lines=3)
    with worker_with_housekeeper(app):
        job_id = run_logs(app, [{"message": f"line {i}"} for i in range(5)] + [
            {"message": "boom token=s3cr3t", "level": "ERROR"}])
        wait_for(lambda: job_id in {j["id"] for j in get_history(app=app)["items"]}, 20,
                 "the job to be archived")
    tracker = get_tracker(app)
    tracker.redis.zadd(tracker.keys.expiry, {job_id: 0})  # its live TTL is over
    assert tracker.store.expire_due() == 1
    assert not tracker.redis.exists(tracker.keys.job(job_id), tracker.keys.job_logs(job_id))
    page = get_job_logs(job_id, limit=2, app=app)
    assert messages(page) == ["line 3", "line 4"] and page["dropped"] == 3
    rest = get_job_logs(job_id, cursor=page["next_cursor"], app=app)
    assert messages(rest) == ["boom token=***"] and rest["next_cursor"] is None
    assert rest["items"][0]["level"] == "ERROR" and rest["items"][0]["at"].endswith("Z")


@pytest.mark.prefork
def test_a_prefork_child_keeps_its_jobs_lines(app: Celery,
                                             prefork_worker: Callable[..., Any]) -> None:
    prefork_worker(app)
    job_id = run_logs(app, [{"message": "in the child"},
                            {"message": "failed once", "level": "WARNING",
                             "logger": "vendor.lib"}], timeout=30)
    assert [(x["logger"], x["message"]) for x in get_job_logs(job_id, app=app)["items"]] == [
        ("t.logs", "in the child"), ("vendor.lib", "failed once")]
