"""The accept mark a worker's main process sends before acknowledging a job's message
(``regiq_tasks/tracking/accepted.py``), against a real private Redis that goes away and
comes back. The whole path, a worker killed in that moment, is in test_prefork.py."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from celery import Celery

from regiq_tasks.tracking import accepted
from regiq_tasks.tracking.accepted import AcceptMarks
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.waiting import wait_for


def test_only_a_queued_or_unwritten_job_is_marked(app: Celery) -> None:
    tracker = get_tracker(app)
    r, keys = tracker.redis, tracker.keys
    for job_id, status in (("q", "queued"), ("r", "running"), ("s", "succeeded"),
                           ("c", "cancelled")):
        r.hset(keys.job(job_id), "status", status)
    marks = AcceptMarks(tracker)
    for job_id in ("q", "r", "s", "c", "unwritten"):
        marks.mark(job_id)
    wait_for(lambda: r.zscore(keys.running, "unwritten") is not None, 5, "the last mark")
    assert {m.decode() for m in r.zrange(keys.running, 0, -1)} == {"q", "unwritten"}
    marks.close()


def test_marks_skip_while_redis_is_away_and_resume_when_it_is_back(
        make_app: Callable[..., Celery], volatile_redis: RedisServer,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(accepted, "RETRY_AFTER", 0.05)
    app = make_app(redis_url=volatile_redis.url, redis_timeout=0.5)
    tracker = get_tracker(app)
    marks = AcceptMarks(tracker)
    marks.mark("before")
    wait_for(lambda: tracker.redis.zscore(tracker.keys.running, "before") is not None, 5,
             "the first mark")
    volatile_redis.stop()
    with caplog.at_level(logging.WARNING, logger="regiq_tasks.tracking.accepted"):
        # the first send after the restart may still go into the dead socket; a later
        # one fails, is logged once and never raised
        wait_for(lambda: (marks.mark("away"), marks._conn is None)[1], 10,
                 "a send to fail while Redis is away")
        marks.mark("away-2")  # skipped: paused after the failure, no connect attempt
    assert sum("accept mark of job" in r.getMessage() for r in caplog.records) == 1
    volatile_redis.start()  # the same port, empty
    wait_for(lambda: (marks.mark("back"),
                      tracker.redis.zscore(tracker.keys.running, "back") is not None)[1],
             15, "a mark after Redis came back")
    marks.close()
