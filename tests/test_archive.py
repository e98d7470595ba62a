"""The archiver: crash at any point loses nothing and duplicates nothing; live TTL expiry."""

from __future__ import annotations

import time
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from regiq_tasks import get_history, get_job
from regiq_tasks.history import JobHistory, make_engine, upgrade
from regiq_tasks.history.repository import get_job as archived_record
from regiq_tasks.housekeeping.archive import Archiver
from regiq_tasks.states import JobStatus
from regiq_tasks.store import Change, index_member
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.waiting import wait_for


def finish_jobs(app: Celery, n: int, status: JobStatus = JobStatus.SUCCEEDED) -> list[str]:
    """Write n finished jobs through the store's own write path."""
    store = get_tracker(app).store
    now = time.time()
    ids = [f"job-{i:04d}" for i in range(n)]
    changes = []
    for i, job_id in enumerate(ids):
        created = now - n + i
        changes.append(Change(job_id, JobStatus.QUEUED, fill={
            "id": job_id, "name": "t.add", "type": "ingest", "created_at": created,
            "_ix": index_member(created, job_id), "pipeline_id": job_id}))
        changes.append(Change(job_id, JobStatus.RUNNING, set={"started_at": created + 0.1}))
        changes.append(Change(job_id, status, set={"finished_at": created + 0.5}))
    store.apply_many(changes)
    return ids


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(JobHistory.id, func.count()).group_by(JobHistory.id))
        return {job_id: count for job_id, count in rows}


@pytest.fixture
def engine(database_url: str) -> Any:
    upgrade(database_url)
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


def test_a_crash_between_read_and_commit_loses_nothing(app: Celery, engine: Engine) -> None:
    ids = finish_jobs(app, 30)
    store = get_tracker(app).store
    crashed = Archiver(store, engine, live_ttl=60, batch_size=1000, consumer="crashed")
    batch = crashed.read()
    assert len(batch.records) == 30  # read, then the process dies before the commit
    restarted = Archiver(store, engine, live_ttl=60, consumer="restarted")
    assert restarted.drain() == 30
    assert row_counts(engine) == {job_id: 1 for job_id in ids}
    assert store.client.xlen(store.keys.archive) == 0


def test_a_crash_between_commit_and_ack_duplicates_nothing(app: Celery, engine: Engine) -> None:
    ids = finish_jobs(app, 30)
    store = get_tracker(app).store
    crashed = Archiver(store, engine, live_ttl=60, consumer="crashed")
    crashed.commit(crashed.read())  # committed, then dies before acknowledging
    restarted = Archiver(store, engine, live_ttl=60, consumer="restarted")
    restarted.drain()
    assert row_counts(engine) == {job_id: 1 for job_id in ids}
    pending = store.client.xpending(store.keys.archive, "archiver")
    assert pending["pending"] == 0


def test_a_database_outage_keeps_entries_until_a_later_commit(app: Celery,
                                                              engine: Engine) -> None:
    ids = finish_jobs(app, 5)
    store = get_tracker(app).store
    broken = make_engine("sqlite:////nonexistent-folder/for/sure/history.db")
    with pytest.raises(SQLAlchemyError):
        Archiver(store, broken, live_ttl=60).run_once()
    Archiver(store, engine, live_ttl=60).drain()
    assert row_counts(engine) == {job_id: 1 for job_id in ids}


def test_batches_read_ahead_while_one_commits_are_archived_once_each(
        app: Celery, engine: Engine) -> None:
    ids = finish_jobs(app, 35)
    store = get_tracker(app).store
    archiver = Archiver(store, engine, live_ttl=60, batch_size=10)
    try:
        # a claim of the batch in flight would write some rows twice: 35 counts each once
        assert archiver.drain() == 35
    finally:
        archiver.close()
    assert row_counts(engine) == {job_id: 1 for job_id in ids}
    assert store.client.xpending(store.keys.archive, "archiver")["pending"] == 0
    assert store.client.xlen(store.keys.archive) == 0


def test_a_database_outage_with_a_batch_read_ahead_loses_nothing(
        app: Celery, engine: Engine) -> None:
    ids = finish_jobs(app, 25)
    store = get_tracker(app).store
    broken = Archiver(store, make_engine("sqlite:////nonexistent-folder/for/sure/history.db"),
                      live_ttl=60, batch_size=10, consumer="broken")
    try:
        with pytest.raises(SQLAlchemyError):
            broken.run_once()  # its first batch fails, the second was being read ahead
    finally:
        broken.close()
    assert store.client.xpending(store.keys.archive, "archiver")["pending"] == 20
    assert Archiver(store, engine, live_ttl=60, batch_size=10,
                    consumer="restarted").drain() == 25
    assert row_counts(engine) == {job_id: 1 for job_id in ids}
    assert store.client.xpending(store.keys.archive, "archiver")["pending"] == 0


def test_archived_jobs_leave_the_live_store_after_live_ttl(app: Celery, engine: Engine) -> None:
    ids = finish_jobs(app, 3)
    store = get_tracker(app).store
    Archiver(store, engine, live_ttl=0.01).drain()
    assert store.get(ids[0]) is not None  # still live until the expiry pass
    wait_for(lambda: store.expire_due() and store.get(ids[0]) is None, 5, "expiry pass")
    assert store.client.zcard(store.keys.index_all) == 0
    assert store.client.zcard(store.keys.index("status", "succeeded")) == 0


def test_get_job_falls_back_to_history_once_the_live_record_expired(
        make_app: Any, sqlite_url: str) -> None:
    app = make_app(database_url=sqlite_url)
    ids = finish_jobs(app, 2, JobStatus.FAILED)
    store = get_tracker(app).store
    Archiver(store, get_tracker(app).engine, live_ttl=0.01).drain()
    wait_for(lambda: store.expire_due() and store.get(ids[0]) is None, 5, "expiry pass")
    job = get_job(ids[1], app=app)
    assert job is not None and job["status"] == "failed"
    assert [j["id"] for j in get_history(app=app, status="failed")["items"]] == ids[::-1]


def test_an_entry_whose_record_is_gone_is_logged_and_counted_not_silently_acked(
        app: Celery, engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    ids = finish_jobs(app, 2)
    store = get_tracker(app).store
    store.client.delete(store.keys.job(ids[0]))  # e.g. expired, or a Redis that lost it
    with caplog.at_level("WARNING", logger="regiq_tasks.housekeeping.archive"):
        assert Archiver(store, engine, live_ttl=60).drain() == 1
    assert row_counts(engine) == {ids[1]: 1}
    assert int(store.client.get(store.keys.archive_dropped)) == 1
    assert any(ids[0] in r.getMessage() for r in caplog.records)
    assert store.client.xlen(store.keys.archive) == 0


def test_a_final_change_that_finds_no_record_writes_one_that_can_be_archived(
        app: Celery, engine: Engine) -> None:
    store = get_tracker(app).store
    # a bare final change (no identity of its own) on a job Redis no longer holds
    store.apply(Change("gone-1", JobStatus.LOST, set={"finished_at": time.time()}))
    job = store.get("gone-1")
    assert job is not None and job["id"] == "gone-1" and job["created_at"]
    assert store.client.zcard(store.keys.index("status", "lost")) == 1
    assert Archiver(store, engine, live_ttl=60).drain() == 1
    assert row_counts(engine) == {"gone-1": 1}


def test_the_archiver_recreates_its_stream_and_group_when_redis_lost_them(
        app: Celery, engine: Engine) -> None:
    store = get_tracker(app).store
    archiver = Archiver(store, engine, live_ttl=60)
    first = finish_jobs(app, 2)
    assert archiver.drain() == 2  # the group exists and the archiver knows it
    store.client.delete(store.keys.archive)  # what a Redis restarted empty looks like
    store.apply(Change("later", JobStatus.SUCCEEDED, fill={"id": "later", "name": "t.add"}))
    assert archiver.run_once() == 1
    assert row_counts(engine) == {**{job_id: 1 for job_id in first}, "later": 1}


def test_the_archived_record_is_the_live_record_whatever_its_values_hold(
        app: Celery, engine: Engine) -> None:
    """The archiver reads each job hash as one JSON text (archive_read.lua): quotes,
    backslashes, slashes, control characters, non-ASCII text, JSON the standard library
    wrote (NaN, integers beyond 64 bits) and bytes that are not UTF-8 all reach the
    history as the live store reads them."""
    store = get_tracker(app).store
    now = time.time()
    text = 'quote " back \\ slash / tab \t nl \n bell \x07 é ✓ 𝄞'
    store.apply(Change("odd-1", JobStatus.QUEUED, fill={
        "id": "odd-1", "name": text, "type": "ingest", "created_at": now,
        "_ix": index_member(now, "odd-1"), "args_preview": text}))
    store.apply(Change("odd-1", JobStatus.FAILED, set={
        "finished_at": now + 0.25, "progress_message": text,
        "metadata": {"big": 2**70, "text": text, "list": [1, None, "x"]},
        "error": {"type": "ValueError", "message": text, "traceback": text}}))
    store.client.hset(store.keys.job("odd-1"), "worker", b"celery@\xffhost")
    live = store.get("odd-1")
    assert live is not None and live["worker"] == "celery@\ufffdhost"

    assert Archiver(store, engine, live_ttl=60).drain() == 1

    archived = archived_record(engine, "odd-1")
    assert archived == live
    assert archived["metadata"]["big"] == 2**70 and archived["error"]["message"] == text
