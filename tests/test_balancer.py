"""Monitors behind a real balancer (issue 15): three Gunicorn monitors behind HAProxy.

The monitors run ``docs/deploy/gunicorn.conf.py``, HAProxy runs ``docs/deploy/
haproxy.cfg`` (round robin, a SERVERID cookie for stickiness, redispatch when a server
is gone). Clients connect through HAProxy as a browser does (long polling, then the
upgrade to WebSocket) and recover as the README asks of every client: on each
(re)connect they subscribe again and re-read the jobs over REST. The monitor that gets
killed is the one holding the relay lease, so its death also stops the relay until
another monitor takes the lease over.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from celery import Celery

from regiq_tasks.store.keys import RELAY_LOCK
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures.balancer import SERVERS, BalancedClient, GunicornMonitor, HAProxy, Nginx
from tests.fixtures.live import JobWriter, close_all
from tests.fixtures.monitor import TOKEN_CONFIG, TOKENS
from tests.fixtures.waiting import wait_for

CLIENTS = 45
OUTCOMES = ("succeeded", "failed", "cancelled")


@dataclass
class Cluster:
    monitors: list[GunicornMonitor]
    balancer: HAProxy


@pytest.fixture
def monitor_env(prefix: str, redis_url: str, sqlite_url: str) -> dict[str, str]:
    """The environment of this test's monitors (its key prefix, a migrated history)."""
    return {"REGIQ_REDIS_URL": redis_url, "REGIQ_KEY_PREFIX": prefix,
            "REGIQ_DATABASE_URL": sqlite_url, "REGIQ_API_TOKENS": TOKEN_CONFIG}


@pytest.fixture
def cluster(monitor_env: dict[str, str], tmp_path: Path, app: Celery) -> Iterator[Cluster]:
    """m1 (relaying from the start: the one to kill), then m2 and m3, then HAProxy."""
    env = monitor_env
    monitors: list[GunicornMonitor] = []
    balancer: HAProxy | None = None
    try:
        monitors.append(GunicornMonitor(env, tmp_path / "m1.log", {"REGIQ_LIVE_RELAY": "on"}))
        monitors[0].wait_ready()
        lock = get_tracker(app).keys.lock(RELAY_LOCK)
        wait_for(lambda: get_tracker(app).redis.exists(lock), 10, "m1 holding the relay lease")
        monitors += [GunicornMonitor(env, tmp_path / f"{name}.log") for name in SERVERS[1:]]
        for monitor in monitors[1:]:
            monitor.wait_ready()
        balancer = HAProxy(monitors, tmp_path).wait_ready()
        yield Cluster(monitors, balancer)
    finally:
        if balancer is not None:
            balancer.stop()
        for monitor in monitors:
            monitor.stop()


@pytest.fixture
def clients(cluster: Cluster) -> Iterator[list[BalancedClient]]:
    made = [BalancedClient(cluster.balancer.url, TOKENS["viewer"], {"type": "lb", "limit": 500})
            for _ in range(CLIENTS)]
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(BalancedClient.open, made))
        yield made
    finally:
        close_all(made)


def _batch(jobs: JobWriter, name: str, count: int = 30) -> dict[str, str]:
    """``count`` whole jobs (queued, running, three progress steps, a final status)."""
    finals = {f"{name}-{n}": OUTCOMES[n % len(OUTCOMES)] for n in range(count)}
    for job_id, status in finals.items():
        jobs.queued(job_id, "lb")
        jobs.running(job_id)
        for step in (1, 2, 3):
            jobs.progress(job_id, step, 3)
        jobs.finish(job_id, status)
    return finals


def _holds(client: BalancedClient, finals: dict[str, str], live: bool = False) -> bool:
    held = client.live_finals() if live else client.finals()
    return all(held.get(job_id) == status for job_id, status in finals.items())


def test_clients_spread_over_three_monitors_survive_one_being_killed(
        cluster: Cluster, clients: list[BalancedClient], app: Celery) -> None:
    jobs = JobWriter(get_tracker(app).store)
    # Given 45 clients spread by HAProxy over the three monitors, upgraded to WebSocket
    spread = Counter(c.server for c in clients)
    assert set(spread) == set(SERVERS) and min(spread.values()) >= CLIENTS // 6, spread
    assert all(c.sio.transport() == "websocket" for c in clients)
    sessions = {name: int(row["scur"]) for name, row in cluster.balancer.stats().items()}
    assert all(sessions[name] >= spread[name] for name in SERVERS), (sessions, spread)
    wait_for(lambda: all(c.rereads for c in clients), 10, "every client subscribed")

    # When a batch of jobs runs, every client gets every final status live
    first = _batch(jobs, "first")
    wait_for(lambda: all(_holds(c, first, live=True) for c in clients), 15,
             "every final status of the first batch at every client")

    # When m1 (the relay) is killed and a batch runs while its clients are away
    moved = [c for c in clients if c.server == "m1"]
    cluster.monitors[0].kill()
    killed = time.time()
    gap = _batch(jobs, "gap")
    gap_written = time.time()

    # Then its clients are back on m2 or m3 within seconds, and hold every final status:
    # those written while they were away from their REST re-read
    wait_for(lambda: all(len(c.rereads) >= 2 for c in moved), 15,
             "the clients of m1 reconnected and re-read the jobs")
    assert all(c.server in ("m2", "m3") and c.sio.connected for c in moved)
    back = sorted(c.connects[-1] - killed for c in moved)
    assert back[-1] < 10, back
    assert all(c.connects[-1] > gap_written for c in moved), "reconnected before the gap ended"
    for client in moved:
        assert all(client.reread.get(j) == s for j, s in gap.items()), client.reread
    assert all(len(c.connects) == 1 for c in clients if c not in moved)
    # ... and the other clients get the gap live once m2 or m3 takes the relay over
    wait_for(lambda: all(_holds(c, {**first, **gap}) for c in clients), 20,
             "every final status of both batches at every client")

    # When a third batch runs, every client, moved or not, gets every final status live
    third = _batch(jobs, "third")
    wait_for(lambda: all(_holds(c, third, live=True) for c in clients), 15,
             "every final status of the third batch at every client")
    print(f"balancer: {CLIENTS} clients over {dict(spread)}; m1 killed: its {len(moved)} "
          f"clients back in {back[0]:.2f}-{back[-1]:.2f} s, 0 final statuses missed")


def test_the_shipped_nginx_example_parses_and_carries_websocket_upgrades(
        monitor_env: dict[str, str], tmp_path: Path, app: Celery) -> None:
    """docs/deploy/nginx.conf, its three upstreams pointed at one monitor and its port a
    free one: ``nginx -t`` passes, and a client through it upgrades to WebSocket."""
    monitor = GunicornMonitor(monitor_env, tmp_path / "m.log")
    nginx = Nginx([monitor.address] * 3, tmp_path)
    done = nginx.check()
    assert done.returncode == 0, done.stderr
    client = BalancedClient(nginx.url, TOKENS["viewer"], {"type": "lb", "limit": 500})
    try:
        monitor.wait_ready()
        nginx.start()
        client.open()
        wait_for(lambda: client.sio.transport() == "websocket", 10,
                 "the upgrade to WebSocket through nginx")
        wait_for(lambda: client.rereads, 10, "the subscription (and the re-read after it)")
        finals = _batch(JobWriter(get_tracker(app).store), "nginx", 3)
        wait_for(lambda: _holds(client, finals, live=True), 10, "the final statuses, live")
    finally:
        client.close()
        nginx.stop()
        monitor.stop()
