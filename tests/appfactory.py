"""A Celery app for the tests: unique prefixes per test, the test tasks registered on it.

The same factory serves the in-thread workers of the test process and the prefork
worker subprocesses (``tests/worker_app.py`` builds the app from the environment).
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from celery import Celery

from regiq_tasks import TrackedTask, install
from regiq_tasks.tracker import get_tracker


def create_app(prefix: str, redis_url: str, database_url: str, broker_url: str | None = None,
               **regiq: Any) -> Celery:
    """An app whose broker, results, queue and regiq keys all live under ``prefix``."""
    broker = broker_url or redis_url
    app = Celery(f"regiq-test-{prefix}", broker=broker, backend=broker, set_as_current=False)
    app.conf.update(
        broker_transport_options={"global_keyprefix": f"{prefix}celery:"},
        result_backend_transport_options={"global_keyprefix": f"{prefix}celery:"},
        task_default_queue=f"{prefix}q", worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True, result_expires=3600,
        worker_prefetch_multiplier=1, task_acks_late=False)
    install(app, key_prefix=prefix, redis_url=redis_url, database_url=database_url, **regiq)
    define_tasks(app)
    return app


def define_tasks(app: Celery) -> None:
    """Register the tasks the tests run."""

    @app.task(base=TrackedTask, bind=True, shared=False, job_type="ingest", name="t.add")
    def add(self: TrackedTask, x: int, y: int, api_key: str | None = None) -> int:
        self.progress(1, 1, message="added")
        return x + y

    @app.task(base=TrackedTask, bind=True, shared=False, name="t.total", job_type="total")
    def total(self: TrackedTask, values: list[int]) -> int:
        return sum(values)

    @app.task(base=TrackedTask, bind=True, shared=False, name="t.spawn", job_type="spawn")
    def spawn(self: TrackedTask) -> str:
        """Publish a sub-task while running; return its id."""
        return str(add.delay(1, 2).id)

    @app.task(base=TrackedTask, bind=True, shared=False, name="t.fail", alert_severity="CRITICAL")
    def fail(self: TrackedTask, message: str = "bad document") -> None:
        raise ValueError(message)

    @app.task(base=TrackedTask, bind=True, shared=False, name="t.flaky", max_retries=2,
              default_retry_delay=0)
    def flaky(self: TrackedTask, fail_times: int) -> int:
        if self.request.retries < fail_times:
            raise self.retry(exc=RuntimeError(f"attempt {self.request.retries} failed"))
        return self.request.retries

    @app.task(base=TrackedTask, bind=True, shared=False, name="t.count", job_type="count")
    def count(self: TrackedTask, n: int, seconds: float = 0.0, message: str = "step") -> int:
        """Report n progress steps spread over ``seconds``."""
        for i in range(n):
            if seconds:
                time.sleep(seconds / n)
            self.progress(i + 1, n, message=f"{message} {i + 1}")
        return n

    @app.task(base=TrackedTask, bind=True, shared=False, name="t.badprogress")
    def badprogress(self: TrackedTask) -> str:
        try:
            self.progress(-1, 10)
        except ValueError as exc:
            return str(exc)
        return "accepted"

    @app.task(base=TrackedTask, bind=True, shared=False, name="t.spin", job_type="cpu")
    def spin(self: TrackedTask, seconds: float) -> int:
        """Burn CPU (and some memory) for ``seconds``."""
        block = bytearray(32 * 1024 * 1024)
        deadline = time.process_time() + seconds
        n = 0
        while time.process_time() < deadline:
            n += sum(i * i for i in range(1000)) % 7
            self.progress(time.process_time(), deadline)
        return n + len(block) % 3

    @app.task(base=TrackedTask, bind=True, shared=False, name="t.hang", job_type="hang")
    def hang(self: TrackedTask, marker_key: str) -> None:
        """Announce the pid, then wait until killed (bounded at 60 s)."""
        self.set_metadata(pid=os.getpid())
        self.progress(0, 1, message=f"pid {os.getpid()}")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.05)

    @app.task(base=TrackedTask, bind=True, shared=False, name="t.killself")
    def killself(self: TrackedTask) -> None:
        """Die like the OOM killer would take the process."""
        self.progress(0, 1, message="about to die")
        os.kill(os.getpid(), signal.SIGKILL)

    @app.task(base=TrackedTask, bind=True, shared=False, name="t.meta")
    def meta(self: TrackedTask, **values: Any) -> None:
        self.set_metadata(**values)

    @app.task(base=TrackedTask, bind=True, shared=False, name="t.mark", job_type="mark")
    def mark(self: TrackedTask, key: str) -> str:
        """Leave a trace in Redis that the body ran."""
        self.app.backend.client.set(key, "ran", ex=600)
        return key

    @app.task(base=TrackedTask, bind=True, shared=False, name="t.cooperative",
              autoretry_for=(Exception,), max_retries=3, default_retry_delay=0)
    def cooperative(self: TrackedTask, steps: int, step_s: float, finally_key: str) -> int:
        """Report progress every ``step_s``; record in Redis that ``finally`` ran."""
        try:
            for i in range(steps):
                time.sleep(step_s)
                self.progress(i + 1, steps, message=f"step {i + 1}")
            return steps
        finally:
            self.app.backend.client.set(finally_key, "ran", ex=600)

    @app.task(base=TrackedTask, bind=True, shared=False, name="t.checker")
    def checker(self: TrackedTask, seconds: float) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.01)
            self.check_cancelled()
        return "done"

    @app.task(base=TrackedTask, bind=True, shared=False, name="t.sleep")
    def sleep(self: TrackedTask, seconds: float) -> float:
        """Run ``seconds`` without ever checking for a cancel."""
        time.sleep(seconds)
        return seconds

    @app.task(base=TrackedTask, bind=True, shared=False, name="t.bigmem", job_type="mem")
    def bigmem(self: TrackedTask, mib: int) -> int:
        """Hold ``mib`` MiB of written memory until this process's sampler has seen it."""
        block = b"x" * (mib << 20)
        tracker = get_tracker(self.app)
        deadline = time.monotonic() + 20
        while tracker.running.sampler.last_rss < len(block) and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(block) >> 20

    @app.task(name="t.plain", shared=False)
    def plain(x: int) -> int:
        return x
