"""The metric counters apply.lua keeps, the snapshot duty and windows read from them.

Jobs are written straight through the store (the same Lua path a worker uses), and the
snapshot duty is called with controlled times, so each window's start is known exactly.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from regiq_tasks import cancel_job, get_performance
from regiq_tasks.errors import InvalidParameter
from regiq_tasks.metrics.histogram import BOUNDS, bucket_index
from regiq_tasks.metrics.performance import throughput
from regiq_tasks.metrics.snapshots import take_snapshots
from regiq_tasks.store import Change, LiveStore
from regiq_tasks.store.prelude import lua_prelude
from regiq_tasks.store.record import iso
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.redis_server import RedisServer

HOUR = 3600


def record(store: LiveStore, job_id: str, status: str, duration: float, wait: float = 0.01,
           job_type: str = "ingest", queue: str = "celery") -> None:
    """One job through queued, running and a final status, with known wait and duration."""
    now = time.time()
    created = now - wait - duration
    store.apply(Change(job_id, "queued", fill={"type": job_type, "queue": queue,
                                               "created_at": created}))
    store.apply(Change(job_id, "running", set={"started_at": created + wait}))
    store.apply(Change(job_id, status, set={
        "finished_at": now, "duration_s": duration,
        "resources": {"cpu_time_s": duration / 2, "peak_rss_bytes": 40_000_000}}))


@pytest.fixture
def store(app: Celery) -> LiveStore:
    return get_tracker(app).store


def snap(app: Celery, now: float) -> int:
    tracker = get_tracker(app)
    return take_snapshots(tracker.redis, tracker.keys, 35, now=now)


def test_a_final_transition_is_counted_once_per_scope(app: Celery, store: LiveStore) -> None:
    record(store, "j1", "succeeded", 0.5)
    store.apply(Change("j1", "failed", set={"finished_at": time.time()}))  # refused: final
    cum = store.client.hgetall(store.keys.metrics_cum("all"))
    assert cum[b"n:succeeded"] == b"1" and b"n:failed" not in cum
    assert cum[f"d:{bucket_index(0.5)}".encode()] == b"1"  # the Lua bucket is Python's
    for scope in ("t:ingest", "q:celery"):
        assert store.client.hget(store.keys.metrics_cum(scope), "n:succeeded") == b"1"
    assert store.client.smembers(store.keys.metrics_scopes) == {b"all", b"t:ingest",
                                                                 b"q:celery"}
    assert sum(int(v) for v in store.client.hvals(store.keys.metrics_finished)) == 1


def test_a_retry_counts_retried_and_the_wait_only_once(app: Celery, store: LiveStore) -> None:
    store.apply(Change("r1", "queued", fill={"type": "ingest", "created_at": time.time()}))
    store.apply(Change("r1", "running", set={"started_at": time.time()}))
    store.apply(Change("r1", "retrying"))
    store.apply(Change("r1", "running", set={"started_at": time.time()}))
    store.apply(Change("r1", "succeeded", set={"finished_at": time.time()}))
    perf = get_performance("5m", type="ingest", app=app)["totals"]
    assert (perf["count"], perf["retried"], perf["succeeded"]) == (1, 1, 1)
    cum = store.client.hgetall(store.keys.metrics_cum("all"))
    assert sum(int(v) for k, v in cum.items() if k.startswith(b"w:")) == 1


def test_a_move_to_retrying_that_lands_after_the_retried_run_ended_still_counts(
        app: Celery, store: LiveStore) -> None:
    """The failed run's pool process writes retrying in its own batch; the retried run,
    in another process, can start and end before that batch lands."""
    identity = {"type": "ingest", "queue": "celery"}
    store.apply(Change("r2", "queued", fill={**identity, "created_at": time.time()}))
    store.apply(Change("r2", "running", set={"started_at": time.time()}, fill=identity))
    store.apply(Change("r2", "succeeded", set={"finished_at": time.time()}, fill=identity))
    assert store.apply(Change("r2", "retrying", fill=identity))[0] == "succeeded"
    perf = get_performance("5m", type="ingest", app=app)["totals"]
    assert (perf["count"], perf["retried"], perf["succeeded"]) == (1, 1, 1)
    assert store.get("r2")["status"] == "succeeded"  # type: ignore[index]


def test_a_window_reads_only_what_finished_after_its_starting_snapshot(
        app: Celery, store: LiveStore) -> None:
    for i in range(3):
        record(store, f"old{i}", "succeeded", 0.2)
    t0 = time.time()
    assert snap(app, t0) == 2  # a minute and an hour copy
    assert snap(app, t0) == 0  # idempotent
    record(store, "new1", "succeeded", 1.0)
    record(store, "new2", "failed", 2.0, job_type="parse")
    perf = get_performance("5m", app=app, now=t0 + 120)
    assert perf["totals"]["count"] == 2 and perf["totals"]["failed"] == 1
    assert perf["from"] is not None and perf["step_s"] == 60
    by_type = {t["type"]: t for t in perf["types"]}
    assert by_type["ingest"]["count"] == 1
    assert by_type["ingest"]["duration_s"]["p50"] == pytest.approx(1.0, rel=0.07)
    assert by_type["parse"]["success_rate"] == 0.0
    assert by_type["ingest"]["peak_rss_bytes_max"] == pytest.approx(40_000_000, rel=0.07)
    assert by_type["ingest"]["cpu_time_s_mean"] == pytest.approx(0.5)
    # no snapshot yet: all-time, and ``from`` says so
    assert get_performance("5m", app=app, now=t0 - 7200)["from"] is not None


def test_without_any_snapshot_the_counts_are_all_time(app: Celery, store: LiveStore) -> None:
    record(store, "a", "succeeded", 0.1)
    perf = get_performance("1h", app=app)
    assert perf["from"] is None and perf["totals"]["count"] == 1 and perf["series"] == []


def test_an_empty_window_has_zero_counts_and_no_percentiles(
        app: Celery, store: LiveStore) -> None:
    record(store, "a", "succeeded", 0.1)
    t0 = time.time()
    snap(app, t0)
    perf = get_performance("5m", app=app, now=t0 + 60)
    assert perf["totals"]["count"] == 0 and perf["types"] == []
    assert perf["totals"]["success_rate"] is None
    assert set(perf["totals"]["duration_s"].values()) == {None}


def test_windows_cross_minute_and_hour_copies(app: Celery, store: LiveStore) -> None:
    h0 = (int(time.time()) // HOUR - 100) * HOUR  # an hour boundary in the past
    record(store, "a", "succeeded", 0.1)
    snap(app, h0 + 1)
    record(store, "b", "succeeded", 0.1)
    snap(app, h0 + HOUR + 1)
    snap(app, h0 + HOUR + 61)  # a second minute copy
    record(store, "c", "succeeded", 0.1)
    # 48h reads minute copies: its start (h0 + 1h + 30 s) floors to the minute h0 + 1h
    perf = get_performance("48h", app=app, now=h0 + HOUR + 30 + 48 * HOUR)
    assert perf["totals"]["count"] == 1 and perf["step_s"] % 60 == 0
    # the next minute: starts at the copy h0 + 1h + 60 s
    perf = get_performance("48h", app=app, now=h0 + HOUR + 90 + 48 * HOUR)
    assert perf["totals"]["count"] == 1
    # 49h reads hour copies: start h0 + 10 s floors to h0
    perf = get_performance("49h", app=app, now=h0 + 10 + 49 * HOUR)
    assert perf["totals"]["count"] == 2 and perf["step_s"] == HOUR
    points = perf["series"]
    assert points[0]["finished"] == 1 and points[0]["at"] is not None  # h0 .. h0 + 1h


def test_a_series_point_counts_its_jobs_with_their_p50_and_p95_durations(
        app: Celery, store: LiveStore) -> None:
    now = time.time()
    snap(app, now - 60)  # a point is the difference of the copies at two boundaries
    for i, duration in enumerate((1.0, 1.0, 1.0, 8.0)):
        record(store, f"s{i}", "failed" if i == 3 else "succeeded", duration)
    snap(app, now)
    points = {p["at"]: p for p in get_performance("5m", app=app, now=now)["series"]}
    point = points[iso(int(now - 60) // 60 * 60)]
    assert (point["finished"], point["failed"]) == (4, 1)
    assert point["duration_p50_s"] == pytest.approx(1.0, rel=0.07)
    assert point["duration_p95_s"] == pytest.approx(8.0, rel=0.07)
    last = points[iso(int(now) // 60 * 60)]  # from the last copy to the live counters
    assert last["finished"] == 0 and last["duration_p50_s"] is None


def test_a_30_day_window_reads_the_earliest_hour_copy(app: Celery, store: LiveStore) -> None:
    h0 = (int(time.time()) // HOUR - 10) * HOUR
    snap(app, h0 + 5)
    record(store, "a", "lost", 3.0)
    perf = get_performance("30d", app=app)
    assert perf["totals"]["lost"] == 1 and perf["step_s"] == 12 * HOUR
    assert perf["from"].startswith(time.strftime("%Y-%m-%dT%H", time.gmtime(h0)))


@pytest.mark.parametrize(("kwargs", "parameter"), [
    ({"window": "4m"}, "window"), ({"window": "36d"}, "window"), ({"window": "1w"}, "window"),
    ({"type": ""}, "type"), ({"queue": 3}, "queue"), ({"type": "a", "queue": "b"}, "queue")])
def test_bad_arguments_name_the_parameter(app: Celery, kwargs: dict[str, Any],
                                          parameter: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        get_performance(app=app, **kwargs)
    assert caught.value.parameter == parameter


def test_throughput_counts_the_last_10_and_60_seconds(app: Celery, store: LiveStore) -> None:
    for i in range(3):
        record(store, f"j{i}", "succeeded", 0.01)
    now = time.time()
    assert throughput(app, now=now) == {"finished_10s": 3, "finished_60s": 3, "per_s": 0.05}
    assert throughput(app, now=now + 30)["finished_10s"] == 0
    snap(app, now + 200)  # the duty trims P m:fin to the last 120 s
    assert store.client.hlen(store.keys.metrics_finished) == 0


def test_the_snapshot_duty_recovers_when_redis_restarts_empty(
        tmp_path: Path, make_app: Any) -> None:
    server = RedisServer(tmp_path / "volatile", persistent=False).start()
    try:
        app = make_app(redis_url=server.url)
        store = get_tracker(app).store
        t0 = int(time.time()) // 60 * 60 + 5  # copies taken 5 s into a minute
        record(store, "before", "succeeded", 0.1)
        assert snap(app, t0) == 2
        record(store, "a", "succeeded", 0.1)
        assert get_performance("5m", app=app, now=t0 + 60)["totals"]["count"] == 1
        server.stop()
        server.start()
        # the same boundary, copied again after the restart (another _at): nothing kept
        # from the copies read before the restart is used for the new ones
        assert snap(app, t0 + 10) == 2
        record(store, "b", "failed", 0.1)
        perf = get_performance("5m", app=app, now=t0 + 60)
        assert (perf["totals"]["count"], perf["totals"]["failed"]) == (1, 1)
        assert perf["from"] == iso(t0 + 10)
    finally:
        server.stop()


def test_the_lua_bucket_index_agrees_with_python_at_every_bound(store: LiveStore) -> None:
    values = [0.0, 5e-5, *BOUNDS, *(b * 1.0001 for b in BOUNDS), 1e7]
    script = store.client.register_script(
        lua_prelude() + "local out = {} for i, x in ipairs(ARGV) do "
        "out[i] = bucket_index(tonumber(x)) end return out")
    assert script(args=[repr(v) for v in values]) == [bucket_index(v) for v in values]


def test_a_queued_job_cancelled_counts_cancelled_once(app: Celery, store: LiveStore) -> None:
    store.apply(Change("c1", "queued", fill={"type": "ingest", "queue": "celery",
                                             "created_at": time.time()}))
    cancel_job("c1", "not needed", app=app)
    cancel_job("c1", "again", app=app)  # already cancelled: unchanged
    store.apply(Change("c1", "running", set={"started_at": time.time()}))  # refused
    perf = get_performance("5m", type="ingest", app=app)["totals"]
    assert (perf["count"], perf["cancelled"]) == (1, 1)
    assert perf["queue_wait_s"]["p50"] is None and perf["duration_s"]["p50"] is None
    assert get_performance("5m", queue="celery", app=app)["totals"]["cancelled"] == 1


def test_a_job_is_published_once_whichever_change_creates_its_record(
        app: Celery, store: LiveStore) -> None:
    record(store, "p1", "succeeded", 0.2)  # the publish change first
    # The start reaches the store before the publisher's queued change (another process)
    store.apply(Change("p2", "running", set={"started_at": time.time()},
                       fill={"type": "ingest", "queue": "celery"}))
    store.apply(Change("p2", "queued", fill={"created_at": time.time() - 1}))
    store.apply(Change("p2", "succeeded", set={"finished_at": time.time()}))
    store.apply(Change("p2", "succeeded", set={"finished_at": time.time()}))  # again
    for scope in ("all", "t:ingest", "q:celery"):
        assert store.client.hget(store.keys.metrics_cum(scope), "n:published") == b"2", scope
    perf = get_performance(window="5m", app=app)
    assert (perf["totals"]["published"], perf["totals"]["count"]) == (2, 2)
    assert perf["types"][0]["published_per_min"] > 0
