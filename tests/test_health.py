"""``GET /status/system/health``, ``get_health`` and ``regiq health`` against real parts.

A private redis-server with an append-only file and a worker consuming the alert queue
make every component ok; the machine's Redis (nothing on disk), a Redis that evicts
anything, an old archive entry, a history schema one migration behind, a stopped Redis
and a port that accepts connections but never answers make each one degraded or down.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery
from click.testing import CliRunner

from regiq_tasks import get_health
from regiq_tasks.cli.main import main
from regiq_tasks.history.db import downgrade, upgrade
from regiq_tasks.resources.sampler import WorkerSampler, start_sampler, stop_sampler
from regiq_tasks.resources.workers import all_workers
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures import cli_target
from tests.fixtures.alerts import alert_worker
from tests.fixtures.monitor import Monitor
from tests.fixtures.ports import free_port
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.services import ROOT
from tests.fixtures.waiting import wait_for

APP = ["--app", "tests.fixtures.cli_target:app"]


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server that keeps an append-only file (persistence: aof)."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose connections are accepted by the kernel and never answered: a
    dependency that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    yield listener.getsockname()[1]
    listener.close()


def regiq_health(app: Celery, *args: str) -> tuple[int, str]:
    cli_target.app = app
    try:
        out = CliRunner().invoke(main, ["health", *APP, *args])
    finally:
        cli_target.app = None
    return out.exit_code, out.output


@pytest.fixture
def sampling() -> Iterator[Callable[[Celery, str], None]]:
    """Start a worker's resource sampler (in-thread test workers do not start one)."""
    apps: list[Celery] = []

    def start(app: Celery, name: str) -> None:
        start_sampler(app, name)
        apps.append(app)
        wait_for(lambda: name in {w["name"] for w in all_workers(app)}, 10, f"{name} sampled")
    yield start
    for app in apps:
        stop_sampler(app)


def test_every_component_ok_answers_200_and_exit_0(make_app: Callable[..., Celery],
                                                    private_redis: RedisServer,
                                                    sampling: Callable[[Celery, str], None]
                                                    ) -> None:
    app = make_app(redis_url=private_redis.url, disk_paths=str(ROOT))
    with alert_worker(app) as worker:
        sampling(app, worker.hostname)
        doc = get_health(app)
        assert doc["status"] == "ok", doc["reasons"]
        assert doc["reasons"] == []
        components = doc["components"]
        assert set(components) == {"redis", "database", "broker", "workers", "archiver",
                                   "alert_queue", "disk"}
        assert all(c["status"] == "ok" for c in components.values()), components
        assert components["redis"]["persistence"] == "aof"
        assert components["redis"]["maxmemory_policy"] == "noeviction"
        assert components["database"]["schema"] == "current"
        assert components["broker"]["transport"] == "redis"
        assert components["archiver"] == {"status": "ok", "backlog": 0, "oldest_pending_s": None}
        assert components["alert_queue"]["consumers"] == 1
        assert components["workers"] == {"status": "ok", "alive": 1, "stale": []}
        assert components["disk"]["worst"]["worker"] == worker.hostname
        assert components["disk"]["worst"]["path"] == str(ROOT)
        response = Monitor(app).get("/status/system/health")
        assert response.status_code == 200 and response.get_json()["status"] == "ok"
        code, output = regiq_health(app, "--json")
        assert code == 0 and json.loads(output)["status"] == "ok"


def test_what_loses_data_is_degraded_with_the_reasons_in_words(
        make_app: Callable[..., Celery], private_redis: RedisServer, sqlite_url: str,
        sampling: Callable[[Celery, str], None]) -> None:
    client = redis.Redis.from_url(private_redis.url)
    client.config_set("appendonly", "no")
    client.config_set("maxmemory-policy", "allkeys-lru")
    downgrade(sqlite_url, "0002")
    app = make_app(redis_url=private_redis.url, database_url=sqlite_url)
    keys = get_tracker(app).keys
    old_ms = int((time.time() - 300) * 1000)
    client.xadd(keys.archive, {"id": "waiting-job"}, id=f"{old_ms}-0")
    sampling(app, "health@test")

    doc = get_health(app)
    assert doc["status"] == "degraded"
    components = doc["components"]
    assert components["redis"]["status"] == "degraded"
    assert components["redis"]["persistence"] == "none"
    assert components["database"] == {**components["database"], "status": "degraded",
                                      "schema": "behind"}
    assert components["archiver"]["backlog"] == 1
    assert components["archiver"]["oldest_pending_s"] >= 299
    assert components["alert_queue"] == {"status": "degraded", "queue": "regiq.alerts",
                                         "consumers": 0}
    reasons = "\n".join(doc["reasons"])
    for words in ("maxmemory-policy allkeys-lru can evict live jobs",
                  "keeps nothing on disk", "regiq db upgrade",
                  "archiver: 1 finished jobs wait for the history, the oldest for",
                  "no worker consumes regiq.alerts"):
        assert words in reasons, reasons
    response = Monitor(app).get("/status/system/health")
    assert response.status_code == 200 and response.get_json()["status"] == "degraded"
    code, output = regiq_health(app)
    assert code == 1 and "degraded" in output
    upgrade(sqlite_url)
    assert get_health(app)["components"]["database"]["schema"] == "current"


def test_redis_down_is_down_with_503_and_exit_2(make_app: Callable[..., Celery]) -> None:
    app = make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    doc = get_health(app)
    assert doc["status"] == "down"
    assert doc["components"]["redis"]["status"] == "down"
    assert doc["components"]["broker"]["status"] == "down"  # the same Redis
    assert doc["components"]["database"]["status"] == "ok"
    assert any(r.startswith("redis: unreachable (") for r in doc["reasons"]), doc["reasons"]
    assert all("127.0.0.1" not in r for r in doc["reasons"])  # no hosts in the words
    response = Monitor(app).get("/status/system/health")
    assert response.status_code == 503 and response.get_json()["status"] == "down"
    code, _ = regiq_health(app, "--json")
    assert code == 2


def test_a_missing_history_database_is_down(make_app: Callable[..., Celery],
                                             tmp_path: Path) -> None:
    app = make_app(database_url=f"sqlite:///{tmp_path / 'never-created.db'}")
    doc = get_health(app)
    assert doc["status"] == "down"
    assert doc["components"]["database"]["status"] == "down"
    assert "regiq db upgrade" in " ".join(doc["reasons"])
    assert not (tmp_path / "never-created.db").exists()  # asking created nothing


def test_a_dependency_that_hangs_is_down_within_2_seconds(make_app: Callable[..., Celery],
                                                           silent_port: int) -> None:
    app = make_app(redis_url=f"redis://127.0.0.1:{silent_port}/0", redis_timeout=10,
                   health_timeout=1.0)
    t0 = time.monotonic()
    doc = get_health(app)
    took = time.monotonic() - t0
    assert took < 2.0, took
    assert doc["status"] == "down"
    assert doc["components"]["redis"]["status"] == "down"
    assert "redis: no answer within 1 s" in doc["reasons"]
    assert doc["components"]["database"]["status"] == "ok"  # checked meanwhile


def test_health_needs_a_token(app: Celery) -> None:
    monitor = Monitor(app)
    assert monitor.get("/status/system/health", role=None).status_code == 401
    assert monitor.get("/status/system/health", token="wrong").status_code == 401
    assert monitor.get("/healthz", role=None).status_code == 200  # stays public


def test_no_live_worker_is_down_a_stale_one_and_a_full_disk_degraded(
        make_app: Callable[..., Celery], sampling: Callable[[Celery, str], None]) -> None:
    app = make_app(sample_interval=0.2, alert_disk=1, disk_paths=str(ROOT))
    doc = get_health(app)
    assert doc["status"] == "down" and doc["components"]["workers"]["alive"] == 0
    assert "workers: no live worker samples itself, so no job runs" in doc["reasons"]
    assert doc["components"]["disk"] == {"status": "ok", "worst": None}
    WorkerSampler(app, "gone@test").tick()  # one sample, then silence
    sampling(app, "live@test")
    doc = wait_for(lambda: (d := get_health(app))["components"]["workers"]["stale"] and d,
                   10, "the silent worker to be stale")
    assert doc["status"] == "degraded"
    assert doc["components"]["workers"] == {"status": "degraded", "alive": 1,
                                            "stale": ["gone@test"]}
    assert "workers: gone@test stopped sampling" in doc["reasons"]
    disk = doc["components"]["disk"]
    assert disk["status"] == "degraded" and disk["worst"]["worker"] == "live@test"
    assert any(r.startswith(f"disk: {ROOT} of live@test is ") for r in doc["reasons"])


def test_an_unreachable_database_is_down(make_app: Callable[..., Celery]) -> None:
    app = make_app(database_url=f"postgresql://regiq@127.0.0.1:{free_port()}/nowhere")
    doc = get_health(app)
    assert doc["status"] == "down"
    assert doc["components"]["database"]["status"] == "down"
    assert any(r.startswith("database: unreachable (") for r in doc["reasons"]), doc["reasons"]
    assert Monitor(app).get("/status/system/health").status_code == 503


def test_a_stopped_redis_process_still_gets_an_answer_within_2_seconds(
        make_app: Callable[..., Celery], private_redis: RedisServer) -> None:
    app = make_app(redis_url=private_redis.url)
    assert get_health(app)["components"]["redis"]["status"] != "down"
    assert private_redis.process is not None
    os.kill(private_redis.process.pid, signal.SIGSTOP)  # alive, holding its port, silent
    try:
        t0 = time.monotonic()
        doc = get_health(app)
        took = time.monotonic() - t0
    finally:
        os.kill(private_redis.process.pid, signal.SIGCONT)
    assert took < 2.0, took
    assert doc["status"] == "down"
    assert doc["components"]["redis"]["status"] == "down"
    assert doc["components"]["database"]["status"] == "ok"
