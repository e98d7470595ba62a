"""Job transitions recorded from a real Celery worker (in-thread, solo pool)."""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery, chain, chord, group

from regiq_tasks import get_job, get_pipeline
from tests.fixtures.services import BROKERS
from tests.fixtures.waiting import wait_for

# Against both brokers users run (issue 15): Redis and RabbitMQ.
pytestmark = pytest.mark.parametrize("broker", BROKERS, indirect=True)


def final(app: Celery, job_id: str, timeout: float = 10) -> dict[str, Any]:
    """Wait until the job's live record reaches a final status; return it."""
    def done() -> dict[str, Any] | None:
        job = get_job(job_id, app=app)
        return job if job and job["status"] in {"succeeded", "failed", "cancelled",
                                                "lost"} else None
    return wait_for(done, timeout, f"job {job_id} to finish")


def test_a_published_job_is_queued_with_a_redacted_args_preview(app: Celery) -> None:
    result = app.tasks["t.add"].delay(2, 3, api_key="hunter2")
    job = get_job(result.id, app=app)
    assert job is not None
    assert job["status"] == "queued"
    assert job["type"] == "ingest" and job["name"] == "t.add"
    assert job["args_preview"] == "2, 3, api_key=***"
    assert job["pipeline_id"] == result.id
    assert job["queue"] == app.conf.task_default_queue
    assert job["created_at"].endswith("Z") and job["started_at"] is None


def test_a_successful_job_records_worker_timings_progress_and_resources(
        app: Celery, worker: Any) -> None:
    result = app.tasks["t.add"].delay(2, 3)
    assert result.get(timeout=10) == 5
    job = final(app, result.id)
    assert job["status"] == "succeeded"
    # the in-thread test worker reports the bare host name, a real worker its node name
    assert job["worker"] and worker.hostname.endswith(job["worker"].split("@")[-1])
    assert job["started_at"] >= job["created_at"] and job["finished_at"] >= job["started_at"]
    assert job["queue_wait_s"] >= 0 and job["duration_s"] >= 0
    assert job["progress"] == {"current": 1, "total": 1, "percent": 100.0, "message": "added"}
    assert job["error"] is None and job["retries"] == 0
    assert job["resources"]["cpu_time_s"] >= 0
    assert job["resources"]["peak_rss_bytes"] > 10_000_000


def test_a_failing_job_records_error_type_message_and_traceback(
        app: Celery, worker: Any) -> None:
    result = app.tasks["t.fail"].delay("bad clause 7")
    with pytest.raises(ValueError):
        result.get(timeout=10)
    job = final(app, result.id)
    assert job["status"] == "failed"
    assert job["error"]["type"] == "ValueError"
    assert job["error"]["message"] == "bad clause 7"
    assert "raise ValueError(message)" in job["error"]["traceback"]
    assert job["alert_severity"] == "CRITICAL"


def test_a_retried_job_goes_through_retrying_and_counts_its_retries(
        app: Celery, worker: Any) -> None:
    seen: list[str] = []
    result = app.tasks["t.flaky"].delay(2)
    assert result.get(timeout=20) == 2
    job = final(app, result.id)
    assert job["status"] == "succeeded" and job["retries"] == 2
    events = app.__dict__["_regiq_tracker"].redis.xrange(
        app.__dict__["_regiq_tracker"].keys.events)
    seen = [e[1][b"status"].decode() for e in events if e[1][b"id"].decode() == result.id]
    assert "retrying" in seen
    assert seen.index("retrying") < len(seen) - 1 - seen[::-1].index("running")


def test_a_job_that_fails_all_retries_ends_failed(app: Celery, worker: Any) -> None:
    result = app.tasks["t.flaky"].delay(5)
    with pytest.raises(RuntimeError):
        result.get(timeout=20)
    job = final(app, result.id)
    assert job["status"] == "failed" and job["retries"] == 2
    assert job["error"]["type"] == "RuntimeError"


def test_a_chain_is_tracked_as_one_pipeline(app: Celery, worker: Any) -> None:
    add = app.tasks["t.add"]
    result = chain(add.s(1, 1), add.s(2), add.s(3)).apply_async()
    assert result.get(timeout=20) == 7
    first = result.parent.parent.id
    final(app, result.id)
    pipeline = wait_for(lambda: (p := get_pipeline(first, app=app)) and
                        p["counts"].get("succeeded") == 3 and p, 10, "pipeline complete")
    assert pipeline["total_jobs"] == 3 and pipeline["status"] == "succeeded"
    assert pipeline["progress"]["percent"] == 100.0
    assert [j["parent_id"] for j in pipeline["jobs"]] == [None, first, result.parent.id]


def test_a_group_and_a_chord_are_each_one_pipeline(app: Celery, worker: Any) -> None:
    add = app.tasks["t.add"]
    g = group(add.s(1, 1), add.s(2, 2), add.s(3, 3)).apply_async()
    assert g.get(timeout=20) == [2, 4, 6]
    c = chord([add.s(1, 1), add.s(2, 2)], app.tasks["t.total"].s()).apply_async()
    assert c.get(timeout=20) == 6
    group_jobs = [final(app, r.id) for r in g.results]
    assert {j["pipeline_id"] for j in group_jobs} == {g.id}
    body = final(app, c.id)
    pipeline = wait_for(lambda: (p := get_pipeline(body["pipeline_id"], app=app)) and
                        p["counts"].get("succeeded") == 3 and p, 10, "chord complete")
    assert pipeline["total_jobs"] == 3
    assert {j["group_id"] for j in pipeline["jobs"][:2]} == {body["pipeline_id"]}


def test_a_task_published_by_a_running_tracked_task_joins_its_pipeline(
        app: Celery, worker: Any) -> None:
    outer = app.tasks["t.spawn"].delay()
    inner_id = outer.get(timeout=10)
    inner = final(app, inner_id)
    assert inner["pipeline_id"] == outer.id and inner["parent_id"] == outer.id
    assert get_pipeline(outer.id, app=app)["total_jobs"] == 2


def test_metadata_set_by_the_task_is_kept(app: Celery, worker: Any) -> None:
    result = app.tasks["t.meta"].delay(source="eur-lex", pages=12)
    result.get(timeout=10)
    assert final(app, result.id)["metadata"] == {"source": "eur-lex", "pages": 12}


def test_untracked_tasks_leave_no_record(app: Celery, worker: Any) -> None:
    result = app.tasks["t.plain"].delay(4)
    assert result.get(timeout=10) == 4
    assert get_job(result.id, app=app) is None



def test_a_second_delivery_of_an_ended_jobs_message_neither_runs_nor_revokes_it(
        app: Celery, worker: Any, prefix: str) -> None:
    # Given a job that failed (a second run of t.once would succeed)
    first = app.tasks["t.once"].delay(1, f"{prefix}once")
    with pytest.raises(ValueError):
        first.get(timeout=10)
    assert final(app, first.id)["status"] == "failed"
    # When its message is delivered again (as after a visibility timeout)
    app.tasks["t.once"].apply_async((1, f"{prefix}once"), task_id=first.id)
    assert app.tasks["t.add"].delay(1, 1).get(timeout=10) == 2  # one consumer: in order
    # Then the body did not run again, and the record and the result backend still agree
    assert get_job(first.id, app=app)["status"] == "failed"
    assert app.AsyncResult(first.id).state == "FAILURE"
