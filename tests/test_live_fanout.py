"""Several monitor processes: one relay at a time, fan-out through the message queue,
and a relay that dies is replaced by one that resumes where it stopped."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
import redis
from celery import Celery

from regiq_tasks.store.keys import RELAY_LOCK
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.live import JobWriter, LiveClient, ServedMonitor
from tests.fixtures.waiting import wait_for

Serve = Callable[..., ServedMonitor]
MakeClient = Callable[[], LiveClient]
FAST_LEASE = {"REGIQ_LIVE_LEASE_TTL": 1.0}


@pytest.fixture
def jobs(app: Celery) -> JobWriter:
    return JobWriter(get_tracker(app).store)


@pytest.fixture
def client_redis(app: Celery) -> redis.Redis:
    return get_tracker(app).redis


def test_a_client_of_one_monitor_receives_what_another_monitor_relays(
        served_monitor: Serve, live_client: MakeClient, jobs: JobWriter) -> None:
    served_monitor(REGIQ_LIVE_RELAY="on")
    quiet = served_monitor(REGIQ_LIVE_RELAY="off")  # serves clients, never relays
    client = live_client().connect(quiet.url)
    client.subscribe(all=True)
    jobs.run("far-1")
    wait_for(lambda: client.last_status("far-1") == "succeeded", 10,
             "an update relayed by the other process")


def test_with_two_relays_ready_each_update_reaches_a_client_once(
        served_monitor: Serve, live_client: MakeClient, jobs: JobWriter,
        client_redis: redis.Redis, app: Celery) -> None:
    first = served_monitor(REGIQ_LIVE_RELAY="on")
    second = served_monitor(REGIQ_LIVE_RELAY="on")
    lock = get_tracker(app).keys.lock(RELAY_LOCK)
    assert client_redis.exists(lock)
    clients = [live_client().connect(m.url) for m in (first, second)]
    for client in clients:
        client.subscribe(all=True)
    wanted = [f"once-{n}" for n in range(20)]
    for job_id in wanted:
        jobs.run(job_id)
    for client in clients:
        wait_for(lambda c=client: all(c.last_status(j) == "succeeded" for j in wanted), 10,
                 "every final state")
        finals = Counter(r["id"] for _, r in client.updates() if r["status"] == "succeeded")
        assert finals == Counter(wanted)


def test_a_relay_that_dies_is_replaced_and_the_new_one_misses_nothing(
        served_monitor: Serve, live_client: MakeClient, jobs: JobWriter,
        client_redis: redis.Redis, app: Celery) -> None:
    keys = get_tracker(app).keys
    doomed = served_monitor(REGIQ_LIVE_RELAY="on", **FAST_LEASE)
    wait_for(lambda: client_redis.exists(keys.lock(RELAY_LOCK)), 10, "the first relay")
    heir = served_monitor(REGIQ_LIVE_RELAY="on", **FAST_LEASE)
    client = live_client().connect(heir.url)
    client.subscribe(all=True)
    jobs.run("before")
    wait_for(lambda: client.last_status("before") == "succeeded", 10, "the first relay works")
    wait_for(lambda: client_redis.get(keys.relay_last_id), 10, "a persisted last id")
    doomed.kill()  # SIGKILL: no lease release, no goodbye
    gap = [f"gap-{n}" for n in range(30)]
    for job_id in gap:
        jobs.run(job_id, "gap")
    wait_for(lambda: all(client.last_status(j) == "succeeded" for j in gap), 15,
             "every job of the gap, relayed by the heir")
    assert {r["id"] for _, r in client.updates()} >= {"before", *gap}
