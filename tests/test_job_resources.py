"""A running job's resources while it runs: CPU time, CPU %, current and peak RSS,
refreshed with its heartbeat; the final record keeps the job's own figures."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from celery import Celery

from regiq_tasks import get_job
from regiq_tasks.tracking.runtime import JobRuntime
from tests.fixtures.monitor import Monitor
from tests.fixtures.waiting import wait_for

MIB = 2**20


def running_resources(app: Celery, job_id: str) -> dict[str, Any] | None:
    """The live resources of a job while it is running (None before, or once ended)."""
    job = get_job(job_id, app=app)
    if not job or job["status"] != "running" or not job["resources"]:
        return None
    resources: dict[str, Any] = job["resources"]
    return resources


@pytest.mark.prefork
def test_a_running_jobs_cpu_time_and_memory_grow_while_it_runs(
        make_app: Callable[..., Celery], prefork_worker: Callable[..., Any]) -> None:
    # Given a prefork worker whose jobs heartbeat every half second (lost_after / 4)
    app = make_app(lost_after=2)
    prefork_worker(app, lost_after=2)
    # When a job burns CPU and allocates 2 MiB more after every 0.1 s of CPU
    result = app.tasks["t.grow"].delay(8.0)
    first = wait_for(lambda: running_resources(app, result.id), 20,
                     "the running job's first resources")
    assert set(first) == {"cpu_time_s", "cpu_percent", "peak_rss_bytes", "rss_bytes"}

    # Then while it still runs, its CPU time and current RSS grow
    def grown() -> dict[str, Any] | None:
        now = running_resources(app, result.id)
        return now if now and now["cpu_time_s"] >= first["cpu_time_s"] + 0.5 \
            and now["rss_bytes"] >= first["rss_bytes"] + 8 * MIB else None

    later = wait_for(grown, 20, "the running job's CPU time and RSS to grow")
    assert later["peak_rss_bytes"] >= later["rss_bytes"] > 0
    assert 0 < later["cpu_percent"] <= 110  # one pool process: about one core at most
    assert Monitor(app).json(f"/status/jobs/{result.id}")["resources"]["rss_bytes"] >= \
        first["rss_bytes"]

    # And once it ended, the record holds its totals (no current RSS of a finished job)
    held = result.get(timeout=30)
    job = wait_for(lambda: (j := get_job(result.id, app=app)) and j["status"] == "succeeded"
                   and j, 10, "the job to succeed")
    final = job["resources"]
    assert set(final) == {"cpu_time_s", "cpu_percent", "peak_rss_bytes"}
    assert final["cpu_time_s"] >= later["cpu_time_s"]
    assert final["peak_rss_bytes"] >= max(later["rss_bytes"], held * MIB)


def test_a_jobs_cpu_time_read_from_another_thread_is_its_own_threads() -> None:
    """Where jobs share a process (threads pool), the heartbeat (the writer thread) reads
    the CPU time of the job's own thread, not its own."""
    holder: list[JobRuntime] = []
    started, release = threading.Event(), threading.Event()

    class Task:
        name = "t.threaded"

    def job() -> None:
        rt = JobRuntime("j1", Task(), time.time(), 0)
        rt.shared_process = True
        holder.append(rt)
        started.set()
        deadline = time.thread_time() + 0.3
        while time.thread_time() < deadline:
            pass
        release.wait(10)

    thread = threading.Thread(target=job)
    thread.start()
    started.wait(10)
    busy_until = time.thread_time() + 0.6  # this thread burns more than the job
    while time.thread_time() < busy_until:
        pass
    wait_for(lambda: holder[0].resources()["cpu_time_s"] >= 0.3, 10, "the job's CPU")
    figures = holder[0].resources(live=True)
    holder[0].thread_clock = None  # a platform without per-thread clocks: unknown from here
    unknown = holder[0].resources(live=True)
    release.set()
    thread.join(10)
    assert 0.3 <= figures["cpu_time_s"] < 0.55
    assert set(figures) == {"cpu_time_s", "cpu_percent", "peak_rss_bytes", "rss_bytes"}
    assert (unknown["cpu_time_s"], unknown["cpu_percent"]) == (None, None)
