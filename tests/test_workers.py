"""Workers sampled: the sampler, ``list_workers``/``get_worker``, ``GET /status/workers``,
the realtime ``workers``, the Prometheus families and ``regiq workers``.

The first tests sample in this process (``WorkerSampler.tick()``: the sampler's real
write path, no worker needed); the prefork ones run real workers with a short sample
interval: a worker lists itself with its pool, busy slots and resources, a SIGKILLed
one turns not alive within 3 intervals and is gone after its TTL, and one stopped on
purpose is gone at once.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from celery import Celery
from click.testing import CliRunner

from regiq_tasks import WorkerNotFound, get_realtime, get_worker, list_workers
from regiq_tasks.cli.main import main
from regiq_tasks.monitor.api.realtime_schemas import RealtimeOut
from regiq_tasks.monitor.api.worker_schemas import WorkerDetail, WorkerPage
from regiq_tasks.resources.sample import Probe
from regiq_tasks.resources.sampler import WorkerSampler
from tests.fixtures import cli_target
from tests.fixtures.monitor import Monitor
from tests.fixtures.prometheus import promtool, samples
from tests.fixtures.services import PreforkWorker
from tests.fixtures.waiting import wait_for

WORKER_KEYS = {"name", "alive", "last_seen", "pool", "concurrency", "busy", "cpu_percent",
               "rss_bytes", "processes", "open_files", "pid", "started_at", "interval_s",
               "host"}
HOST_KEYS = {"name", "cpus", "cpu_percent", "memory_percent", "memory_total_bytes",
             "swap_percent", "load_1m", "load_5m", "load_15m", "disk"}
INTERVAL = 0.5  # s: the sample interval of the prefork workers here


@pytest.fixture
def sampled(app: Celery) -> Iterator[Callable[[str], WorkerSampler]]:
    """Samplers of this process under worker names of the test's choosing (not started:
    each ``tick()`` takes and writes one sample)."""
    made: list[WorkerSampler] = []

    def make(name: str) -> WorkerSampler:
        sampler = WorkerSampler(app, name)
        assert sampler.tick()
        made.append(sampler)
        return sampler

    yield make
    for sampler in made:
        sampler.stop()


def by_name(app: Celery) -> dict[str, dict[str, Any]]:
    return {w["name"]: w for w in list_workers(app=app, limit=500)["items"]}


# -- in this process ----------------------------------------------------------------------

def test_a_sample_holds_the_tree_and_the_host_in_the_documented_shape(
        app: Celery, sampled: Callable[[str], WorkerSampler]) -> None:
    before = time.time()
    sampler = sampled("one@here")
    sampler.tick()
    worker = get_worker("one@here", app=app)
    assert set(worker) == WORKER_KEYS | {"samples"}
    assert worker["alive"] is True and worker["name"] == "one@here"
    assert before - 1 <= datetime.fromisoformat(worker["last_seen"]).timestamp() <= time.time() + 1
    assert worker["processes"] >= 1 and worker["rss_bytes"] > 10 * 2**20
    assert worker["open_files"] > 0 and worker["cpu_percent"] is not None
    assert worker["pool"] is None and worker["busy"] == 0  # no Celery pool in this process
    host = worker["host"]
    assert set(host) == HOST_KEYS and 0 <= host["memory_percent"] <= 100
    assert host["load_1m"] >= 0 and host["cpus"] >= 1
    assert [d["path"] for d in host["disk"]] == list(sampler.probe.disk_paths)
    assert all(0 < d["used_percent"] < 100 and d["free_bytes"] > 0 for d in host["disk"])
    assert len(worker["samples"]) == 2
    assert set(worker["samples"][0]) == {
        "at", "busy", "cpu_percent", "rss_bytes", "open_files", "host_cpu_percent",
        "host_memory_percent", "host_swap_percent", "load_1m", "disk_used_percent"}
    assert worker["samples"][0]["at"] < worker["samples"][1]["at"]
    assert len(get_worker("one@here", samples=1, app=app)["samples"]) == 1


def test_the_tree_is_the_same_read_from_proc_or_through_psutil() -> None:
    sleepers = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
                for _ in range(2)]
    try:
        probe = Probe([])
        assert probe.fast_children  # this kernel lists children in /proc
        fast = {p.pid for p in probe.members()}
        probe.fast_children = False  # what a kernel without CONFIG_PROC_CHILDREN reads
        assert {p.pid for p in probe.members()} == fast
        assert {s.pid for s in sleepers} | {os.getpid()} <= fast
        assert probe.tree()["processes"] == len(fast)
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()


def test_configured_disk_paths_are_sampled_and_an_unreadable_one_reads_null(
        make_app: Callable[..., Celery], tmp_path: Any) -> None:
    app = make_app(disk_paths=f" {tmp_path}, /no/such/path ")
    sampler = WorkerSampler(app, "disks@here")
    try:
        assert sampler.tick()
        disk = get_worker("disks@here", app=app)["host"]["disk"]
    finally:
        sampler.stop()
    assert disk[0]["path"] == str(tmp_path) and disk[0]["used_percent"] is not None
    assert disk[1] == {"path": "/no/such/path", "used_percent": None, "free_bytes": None,
                       "total_bytes": None}


def test_a_worker_stopped_on_purpose_is_gone_at_once(app: Celery) -> None:
    sampler = WorkerSampler(app, "brief@here")
    assert sampler.tick()
    assert "brief@here" in by_name(app)
    sampler.stop()
    assert "brief@here" not in by_name(app)
    with pytest.raises(WorkerNotFound) as caught:
        get_worker("brief@here", app=app)
    assert caught.value.name == "brief@here" and isinstance(caught.value, LookupError)


def test_sampling_with_redis_down_logs_once_and_never_raises(
        make_app: Callable[..., Celery], caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(redis_url="redis://127.0.0.1:9/0", redis_timeout=0.5)
    sampler = WorkerSampler(app, "cut-off@here")
    with caplog.at_level(logging.WARNING, logger="regiq_tasks.resources.sampler"):
        assert [sampler.tick() for _ in range(3)] == [False, False, False]
    assert sampler.failures == 3
    warnings = [r for r in caplog.records if "not written" in r.getMessage()]
    assert len(warnings) == 1  # at most one a minute while it lasts
    sampler.stop()  # Redis down: nothing to remove, nothing raised


def test_listing_pages_through_the_workers_in_name_order(
        app: Celery, sampled: Callable[[str], WorkerSampler]) -> None:
    for name in ("c@h", "a@h", "b@h"):
        sampled(name)
    first = list_workers(limit=2, app=app)
    assert [w["name"] for w in first["items"]] == ["a@h", "b@h"] and first["next_cursor"]
    rest = list_workers(limit=2, cursor=first["next_cursor"], app=app)
    assert [w["name"] for w in rest["items"]] == ["c@h"] and rest["next_cursor"] is None
    with pytest.raises(ValueError, match="^limit"):
        list_workers(limit=0, app=app)
    with pytest.raises(ValueError, match="^cursor"):
        list_workers(cursor="bm90LWEtd29ya2VyLWN1cnNvcg", app=app)


def test_the_realtime_document_and_prometheus_carry_the_sampled_workers(
        app: Celery, sampled: Callable[[str], WorkerSampler]) -> None:
    sampled("w1@h")
    document = get_realtime(app)
    assert [w["name"] for w in document["workers"]] == ["w1@h"]
    assert RealtimeOut().validate(document) == {}
    body = Monitor(app).get("/metrics").data
    got = samples(body)
    worker = ("worker", "w1@h")
    assert got[("regiq_worker_up", (worker,))] == 1
    assert got[("regiq_worker_busy", (worker,))] == 0
    assert got[("regiq_worker_rss_bytes", (worker,))] > 10 * 2**20
    assert ("regiq_worker_cpu_percent", (worker,)) in got
    assert 0 < got[("regiq_host_memory_used_ratio", (worker,))] < 1
    disks = {labels: v for (name, labels), v in got.items()
             if name == "regiq_host_disk_used_ratio"}
    assert len(disks) == len(document["workers"][0]["host"]["disk"])
    assert all(0 < v < 1 for v in disks.values())
    checked = promtool(body)
    assert checked.returncode == 0 and not checked.stdout and not checked.stderr, checked


# -- REST ---------------------------------------------------------------------------------

def test_the_endpoints_need_a_token(app: Celery, sampled: Callable[[str], WorkerSampler]) -> None:
    sampled("w@h")
    monitor = Monitor(app)
    for path in ("/status/workers", "/status/workers/w@h"):
        for who in ({"role": None}, {"token": "not-a-token"}):
            response = monitor.get(path, **who)
            assert response.status_code == 401, path
            assert response.get_json()["error"]["code"] == "unauthorized"
        assert monitor.get(path, role="viewer").status_code == 200


def test_an_unknown_worker_is_404_in_the_error_shape(app: Celery) -> None:
    response = Monitor(app).get("/status/workers/nobody@nowhere")
    assert response.status_code == 404
    assert response.get_json() == {"error": {
        "code": "not_found", "message": "no worker named 'nobody@nowhere'",
        "details": {"name": "nobody@nowhere"}}}


@pytest.mark.parametrize(("path", "query", "name"), [
    ("/status/workers", {"limit": "0"}, "limit"),
    ("/status/workers", {"limit": "501"}, "limit"),
    ("/status/workers", {"limit": "many"}, "limit"),
    ("/status/workers", {"cursor": "bm90LWEtd29ya2VyLWN1cnNvcg"}, "cursor"),
    ("/status/workers", {"cursor": "%%%"}, "cursor"),
    ("/status/workers/w@h", {"samples": "0"}, "samples"),
    ("/status/workers/w@h", {"samples": "3601"}, "samples"),
    ("/status/workers/" + "x" * 300, {}, "name"),
])
def test_bad_input_is_400_naming_the_parameter(app: Celery, path: str, query: dict[str, str],
                                               name: str) -> None:
    response = Monitor(app).get(path, query=query)
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "details"} and name in str(error["details"])


def test_the_answers_validate_against_their_documented_schemas(
        app: Celery, sampled: Callable[[str], WorkerSampler]) -> None:
    sampled("w@h")
    monitor = Monitor(app)
    page = monitor.json("/status/workers")
    assert WorkerPage().validate(page) == {} and page["next_cursor"] is None
    assert [w["name"] for w in page["items"]] == ["w@h"]
    one = monitor.json("/status/workers/w@h", samples=5)
    assert WorkerDetail().validate(one) == {} and len(one["samples"]) == 1
    spec = monitor.json("/openapi.json")
    assert {"200", "400", "401", "403", "404", "503"} <= set(
        spec["paths"]["/status/workers/{name}"]["get"]["responses"])
    listing = spec["paths"]["/status/workers"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"limit", "cursor"}
    assert listing["security"]


def test_the_endpoints_answer_503_when_redis_is_down(make_app: Callable[..., Celery]) -> None:
    monitor = Monitor(make_app(redis_url="redis://127.0.0.1:9/0", redis_timeout=0.5))
    for path in ("/status/workers", "/status/workers/w@h"):
        response = monitor.get(path)
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "unavailable"


# -- CLI ----------------------------------------------------------------------------------

def test_regiq_workers_lists_them_and_shows_one(
        app: Celery, sampled: Callable[[str], WorkerSampler]) -> None:
    sampled("w@h")
    cli_target.app = app
    try:
        runner = CliRunner()
        target = ["--app", "tests.fixtures.cli_target:app"]
        listed = runner.invoke(main, ["workers", *target])
        assert listed.exit_code == 0, listed.output
        assert [w["name"] for w in json.loads(listed.output)["items"]] == ["w@h"]
        shown = runner.invoke(main, ["workers", "w@h", *target])
        assert shown.exit_code == 0 and len(json.loads(shown.output)["samples"]) == 1
        unknown = runner.invoke(main, ["workers", "nobody@h", *target])
        assert unknown.exit_code == 1
        assert unknown.output.strip() == "Error: no worker named 'nobody@h'"
    finally:
        cli_target.app = None


# -- real prefork workers -----------------------------------------------------------------

def sampling(interval: float, ttl: float = 3600) -> dict[str, str]:
    """The environment of a worker sampling every ``interval`` s, kept ``ttl`` s."""
    return {"REGIQ_SAMPLE_INTERVAL": str(interval), "REGIQ_WORKER_TTL": str(ttl)}


def listed(monitor: Monitor, name: str, **expect: Any) -> dict[str, Any] | None:
    """The worker ``name`` as GET /status/workers lists it, if it has ``expect``."""
    workers = {w["name"]: w for w in monitor.json("/status/workers")["items"]}
    worker = workers.get(name)
    if worker is None or any(worker.get(k) != v for k, v in expect.items()):
        return None
    return worker


@pytest.mark.prefork
def test_a_prefork_worker_lists_its_pool_busy_slots_and_resources(
        app: Celery, prefork_worker: Callable[..., PreforkWorker]) -> None:
    # Given a prefork worker (concurrency 2) sampling every half second
    worker = prefork_worker(app, env=sampling(INTERVAL))
    monitor = Monitor(app)
    # Then it lists itself, idle, with its tree (main process and two children) and host
    idle = wait_for(lambda: listed(monitor, worker.name, busy=0), 20, "the worker listed")
    assert (idle["alive"], idle["pool"], idle["concurrency"]) == (True, "prefork", 2)
    assert idle["processes"] == 3 and idle["rss_bytes"] > 30 * 2**20
    assert idle["cpu_percent"] is not None and idle["open_files"] > 0
    assert idle["interval_s"] == INTERVAL and idle["pid"] == worker.process.pid
    host = idle["host"]
    assert host["cpu_percent"] is not None and 0 < host["memory_percent"] < 100
    assert host["load_1m"] >= 0 and len(host["disk"]) >= 1
    assert all(d["used_percent"] is not None and d["free_bytes"] > 0 for d in host["disk"])

    # When a job runs, busy rises; when it ended, it falls again
    result = app.tasks["t.sleep"].delay(3.0)
    wait_for(lambda: listed(monitor, worker.name, busy=1), 15, "busy to rise to 1")
    assert result.get(timeout=30) == 3.0
    wait_for(lambda: listed(monitor, worker.name, busy=0), 10, "busy to fall back to 0")

    # And its recent samples saw the job
    detail = monitor.json(f"/status/workers/{worker.name}")
    assert [s["busy"] for s in detail["samples"]].count(1) >= 2
    assert WorkerDetail().validate(detail) == {}

    # When it stops on purpose, it is gone at once (not shown as not alive)
    worker.stop()
    assert listed(monitor, worker.name) is None
    assert monitor.get(f"/status/workers/{worker.name}").status_code == 404


@pytest.mark.prefork
def test_a_killed_worker_is_not_alive_within_three_intervals_then_gone_after_its_ttl(
        app: Celery, prefork_worker: Callable[..., PreforkWorker]) -> None:
    interval, ttl = 1.0, 5.0
    keeper = prefork_worker(app, env=sampling(interval, ttl))
    doomed = prefork_worker(app, env=sampling(interval, ttl))
    for w in (keeper, doomed):
        wait_for(lambda w=w: w.name in by_name(app), 20, f"{w.name} listed")

    doomed.kill()  # SIGKILL, main process and children: nothing says goodbye
    killed, killed_at = time.monotonic(), time.time()
    stale = wait_for(lambda: (w := by_name(app)[doomed.name]) and not w["alive"] and w,
                     3 * interval + 2, "the killed worker to be shown not alive")
    elapsed = time.monotonic() - killed
    # its last sample came before the kill, and it is not alive 3 intervals after that
    # sample (the slack is this test's polling on a shared machine)
    assert datetime.fromisoformat(stale["last_seen"]).timestamp() <= killed_at + 0.05
    assert elapsed <= 3 * interval + 1.0, elapsed
    assert by_name(app)[keeper.name]["alive"]
    got = samples(Monitor(app).get("/metrics").data)
    assert got[("regiq_worker_up", (("worker", doomed.name),))] == 0
    assert got[("regiq_worker_up", (("worker", keeper.name),))] == 1
    assert ("regiq_worker_busy", (("worker", doomed.name),)) not in got

    wait_for(lambda: doomed.name not in by_name(app), ttl + 3, "the killed worker to be gone")
    assert time.monotonic() - killed >= ttl - interval - 0.5
    with pytest.raises(WorkerNotFound):
        get_worker(doomed.name, app=app)
    assert keeper.name in by_name(app)
