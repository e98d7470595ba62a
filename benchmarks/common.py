"""Shared helpers of the benchmark scripts: isolation, workers, databases, reporting.

Every run works under its own Redis key prefix (regiq keys, Celery broker and result
backend keys) and its own queue, and deletes exactly the keys under that prefix when it
ends. Worker subprocesses run in their own session and are stopped through their process
group. Nothing listens on anything but loopback.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import redis

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
if str(REPO_DIR) not in sys.path:
    sys.path.insert(0, str(REPO_DIR))


DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


# -- isolation ---------------------------------------------------------------------------
def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_id() -> str:
    """A short id unique to this run."""
    return f"{int(time.time())}-{secrets.token_hex(3)}"


def unique_prefix(tag: str, rid: str) -> str:
    """The Redis key prefix owning every key of this run (no glob characters)."""
    return f"regiq-bench:{tag}:{rid}:"


def delete_prefix(url: str, prefix: str) -> int:
    """Delete every key under ``prefix`` (SCAN MATCH prefix* + UNLINK); returns count."""
    if any(c in prefix for c in "*?[]\\"):
        raise ValueError(f"prefix {prefix!r} contains glob characters")
    client = redis.Redis.from_url(url)
    deleted = 0
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                deleted += client.unlink(*batch)
                batch = []
        if batch:
            deleted += client.unlink(*batch)
    finally:
        client.close()
    return deleted


def live_store(tag: str, redis_url: str) -> tuple[str, Any]:
    """This run's key prefix and a ``LiveStore`` under it (its client: ``store.client``)."""
    from regiq_tasks.store import LiveStore
    from regiq_tasks.store.keys import Keys

    prefix = unique_prefix(tag, run_id())
    return prefix, LiveStore(redis.Redis.from_url(redis_url), Keys(f"{prefix}regiq:"))


def bench_env(*, redis_url: str, prefix: str, queue: str, database_url: str,
              progress_interval: float | None = None,
              broker_url: str | None = None) -> dict[str, str]:
    """Environment variables read by ``throughput_app`` (see that module)."""
    env = {"BENCH_REDIS_URL": redis_url, "BENCH_PREFIX": prefix, "BENCH_QUEUE": queue,
           "BENCH_DATABASE_URL": database_url, "BENCH_BROKER_URL": broker_url or ""}
    if progress_interval is not None:
        env["BENCH_PROGRESS_INTERVAL"] = repr(progress_interval)
    return env


# -- worker subprocess -------------------------------------------------------------------
class Worker:
    """A ``celery worker`` subprocess in its own session, stopped by process group."""

    def __init__(self, app_module: str, queue: str, hostname: str, env: dict[str, str],
                 pool: str = "prefork", concurrency: int = 2, log_path: Path | None = None,
                 extra_args: Sequence[str] = ()) -> None:
        self.hostname = hostname
        self.pool = pool
        self.log_path = log_path
        cmd = [sys.executable, "-m", "celery", "-A", app_module, "worker", "-P", pool,
               "--without-gossip", "--without-mingle", "--without-heartbeat",
               "-l", "warning", "-Q", queue, "-n", hostname, *extra_args]
        if pool == "prefork":
            cmd[cmd.index("-P") + 2:cmd.index("-P") + 2] = ["-c", str(concurrency)]
        self.cmd = cmd
        self._env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join(
            p for p in (str(BENCH_DIR), str(REPO_DIR), os.environ.get("PYTHONPATH", "")) if p)}
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def start(self) -> None:
        self._log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.cmd, cwd=BENCH_DIR, env=self._env,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_ready(self, app: Any, timeout: float = 60.0) -> float:
        """Wait until the worker answers ``ping``; returns the seconds it took."""
        assert self.proc is not None
        began = time.monotonic()
        deadline = began + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}; "
                                   f"log: {self.log_path}")
            try:
                if app.control.ping(destination=[self.hostname], timeout=0.5):
                    return time.monotonic() - began
            except Exception as exc:
                last_error = exc
            time.sleep(0.2)
        raise TimeoutError(f"worker {self.hostname} did not answer ping in {timeout} s "
                           f"(last error: {last_error!r}; log: {self.log_path})")

    def stop(self, timeout: float = 20.0, group: bool = True) -> None:
        """Warm shutdown, then SIGKILL to the group if it lingers.

        ``group``: SIGTERM goes to the whole process group, pool children included (a
        child busy with a task dies of it: fine for an idle worker). ``group=False``
        sends it to the main process only, which lets running tasks finish and puts its
        prefetched messages back on the queue: a restart under load.
        """
        if self.proc is None:
            return
        pgid = self.proc.pid  # session leader: its pid is the group id
        if self.proc.poll() is None:
            try:
                if group:
                    os.killpg(pgid, signal.SIGTERM)
                else:
                    self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:  # children that outlived the main process, if any
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.proc.poll() is None:
            self.proc.wait(5)
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()

    def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL the whole process group (main process and pool children) at once."""
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout)
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- PostgreSQL --------------------------------------------------------------------------
@contextmanager
def scratch_postgres(server_url: str = DEFAULT_POSTGRES_SERVER) -> Iterator[str]:
    """A PostgreSQL database created for this run and dropped afterwards."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from regiq_tasks.history import database_url

    server = database_url(server_url)
    name = f"regiq_bench_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(server).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


# -- reporting ---------------------------------------------------------------------------
def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def loop_ns(iterations: int = 2_000_000, repeat: int = 3) -> float:
    """Nanoseconds per iteration of a plain Python loop (best of ``repeat``): how fast
    this machine runs Python now, to set figures of different days side by side."""
    best = float("inf")
    for _ in range(repeat):
        began, total = time.perf_counter(), 0
        for i in range(iterations):
            total += i
        best = min(best, time.perf_counter() - began)
    return 1e9 * best / iterations


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    info: dict[str, Any] = {
        "cpus": os.cpu_count(), "platform": platform.platform(),
        "python": platform.python_version(), "load_avg_1m": os.getloadavg()[0],
        "code": code_revision(), "python_loop_ns": round(loop_ns(), 1)}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import celery
        import kombu
        import sqlalchemy
        info.update(celery=celery.__version__, kombu=kombu.__version__,
                    sqlalchemy=sqlalchemy.__version__, redis_py=redis.__version__)
    except ImportError:
        pass
    return info


def code_revision() -> str:
    """The git commit measured, with ``+dirty`` if the library sources differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_DIR,
                              capture_output=True, text=True, timeout=10,
                              check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "regiq_tasks", "signals"],
                               cwd=REPO_DIR, capture_output=True, text=True,
                               timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + ("+dirty" if dirty else "")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_json(name: str, data: dict[str, Any], path: str | None = None) -> Path:
    """Write ``data`` to ``path`` or ``benchmarks/results/<name>-<utc time>.json``."""
    if path:
        target = Path(path)
    else:
        RESULTS_DIR.mkdir(exist_ok=True)
        target = RESULTS_DIR / f"{name}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return target


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain fixed-width text table."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in
                       enumerate(zip(row, widths))) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file ('' if unreadable)."""
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def header(name: str) -> dict[str, Any]:
    """Print and return what is being measured where (date, code, machine)."""
    info = machine()
    print(f"{name}: {now_iso()}, code {info['code']}, {info['cpus']} CPUs "
          f"({info.get('cpu_model', '?')}), load avg 1 min {info['load_avg_1m']:.2f}, "
          f"Python {info['python']} ({info['python_loop_ns']} ns per loop iteration), "
          f"Celery {info.get('celery', '?')}")
    return info
