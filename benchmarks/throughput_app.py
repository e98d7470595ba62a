"""The Celery app the worker benchmarks run: a bare and a tracked no-op, and a progress loop.

Configured only from environment variables that the benchmark scripts set (see
``common.bench_env``), so that the benchmark process (the producer) and its worker
subprocess (``celery -A throughput_app worker``, cwd ``benchmarks/``) agree:

- ``BENCH_PREFIX`` (required): Redis key prefix of the run. regiq keys live under
  ``<prefix>regiq:``, the broker's under ``<prefix>broker:``, the result backend's under
  ``<prefix>backend:``.
- ``BENCH_QUEUE`` (required): the run's own queue (also its exchange and routing key).
- ``BENCH_REDIS_URL``: broker, result backend and live store (default local Redis db 0).
- ``BENCH_BROKER_URL``: the Celery broker, when it is not ``BENCH_REDIS_URL`` (RabbitMQ,
  ``amqp://...``: ``bench_throughput.py --broker amqp``); results and the live store stay
  on ``BENCH_REDIS_URL``.
- ``BENCH_DATABASE_URL``: history database the worker's archiver writes to.
- ``BENCH_PROGRESS_INTERVAL``: regiq ``progress_interval`` (default: regiq's, 0.25 s).
- ``BENCH_STORE_URL``: the live store, when it is not ``BENCH_REDIS_URL`` (a
  ``redis+sentinel://`` service in ``bench_sentinel.py``).
- ``BENCH_LOST_AFTER``: regiq ``lost_after`` (default: regiq's, 60 s).
- ``BENCH_VISIBILITY_TIMEOUT``: kombu's Redis ``visibility_timeout`` (s): how long a
  message a worker took but did not acknowledge (its prefetched messages, when it is
  killed) stays away before any worker puts it back on the queue; the restore sweep
  then runs every second (``unacked_restore_interval`` 1, ``unacked_restore_throttle``
  1) instead of kombu's default of every 100 s.
- ``BENCH_ACKS_LATE=1``: Celery's ``task_acks_late`` (a message is acknowledged after its
  task, not when a pool process takes it).
- ``BENCH_RUN_LOG``: a directory where each process running ``bench.short`` appends one
  line per delivery (``D <job id> <worker> <1 if redelivered else 0> <unix time>``, at
  ``task_prerun``, also for a delivery regiq does not run) and per completed body
  (``E <job id> <worker>``), to ``<pid>.log`` (``bench_workers.py`` counts them).

Diagnostics only (to attribute overhead, not for the headline figures):

- ``BENCH_NO_HOUSEKEEPER=1``: the worker does not start regiq's housekeeping thread
  (archiver, reaper, expiry) at ``worker_ready``.
- ``BENCH_NO_METRICS=1``: the worker's ``apply.lua`` runs without its metric writes
  (the ``record_metrics`` call is cut from the script text before it is registered), to
  measure what the performance counters cost on the hot path.
- ``BENCH_METRICS_SPLIT=1``: the worker registers both scripts and applies the changes
  of jobs whose id starts with :data:`NO_METRICS_ID_PREFIX` without the metric writes,
  so that one run compares tracked jobs with and without them back to back
  (``bench_throughput.py --kinds bare,tracked,tracked-nometrics``).
- ``BENCH_ASYNC_START=1``: the start write is queued like the other changes instead of
  applied synchronously. **Unsafe** (a job cancelled while queued could run): it only
  measures what the synchronous start costs (docs/benchmarks.md, issue 14).
- ``BENCH_PROFILE_DIR=<dir>``: cProfile each pool child, dumped there at its shutdown.
- ``BENCH_SWITCH_INTERVAL``: ``sys.setswitchinterval`` for the worker processes.
- ``BENCH_ARCHIVER_STATS=<path>``: count the archiver's batches (rows, thread CPU and
  wall time per ``Archiver.run_once``) and write them as JSON to ``<path>`` at shutdown.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from celery import Celery

import regiq_tasks.store as _store
from regiq_tasks import TrackedTask, install
from regiq_tasks.tracking.runtime import current_runtime

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PREFIX = os.environ["BENCH_PREFIX"]
QUEUE = os.environ["BENCH_QUEUE"]
BROKER_URL = os.environ.get("BENCH_BROKER_URL") or REDIS_URL

app = Celery("throughput_app", broker=BROKER_URL, backend=REDIS_URL)
_broker_options: dict[str, Any] = {"global_keyprefix": f"{PREFIX}broker:"}  # Redis only
if os.environ.get("BENCH_VISIBILITY_TIMEOUT"):
    _broker_options.update(visibility_timeout=float(os.environ["BENCH_VISIBILITY_TIMEOUT"]),
                           unacked_restore_interval=1, unacked_restore_throttle=1)
app.conf.update(
    broker_transport_options=_broker_options,
    result_backend_transport_options={"global_keyprefix": f"{PREFIX}backend:"},
    task_default_queue=QUEUE,
    task_default_exchange=QUEUE,
    task_default_routing_key=QUEUE,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=3600,
    broker_connection_retry_on_startup=True,
    worker_redirect_stdouts=False,
    task_acks_late=os.environ.get("BENCH_ACKS_LATE") == "1",
)

# BENCH_STORE_URL: the live store elsewhere than the broker (a Sentinel service)
_regiq: dict[str, Any] = {"key_prefix": f"{PREFIX}regiq:",
                          "redis_url": os.environ.get("BENCH_STORE_URL", REDIS_URL)}
if os.environ.get("BENCH_DATABASE_URL"):
    _regiq["database_url"] = os.environ["BENCH_DATABASE_URL"]
if os.environ.get("BENCH_PROGRESS_INTERVAL"):
    _regiq["progress_interval"] = float(os.environ["BENCH_PROGRESS_INTERVAL"])
if os.environ.get("BENCH_LOST_AFTER"):
    _regiq["lost_after"] = float(os.environ["BENCH_LOST_AFTER"])
_ORIGINAL_LOAD = _store._load
NO_METRICS_ID_PREFIX = "nm-"  # BENCH_METRICS_SPLIT: these jobs skip the metric writes
_METRICS_CALL = "record_metrics(metric_keys(ARGV[1]), cur, after, status, new, now)"


def _apply_without_metrics() -> str:
    """apply.lua as the store registers it, with its ``record_metrics`` call cut out."""
    text = _ORIGINAL_LOAD("apply.lua")
    assert _METRICS_CALL in text, "apply.lua changed: update throughput_app"
    return text.replace(_METRICS_CALL, "")


if os.environ.get("BENCH_NO_METRICS") == "1":
    _store._load = lambda name: (  # type: ignore[assignment]
        _apply_without_metrics() if name == "apply.lua" else _ORIGINAL_LOAD(name))
if os.environ.get("BENCH_METRICS_SPLIT") == "1":
    LiveStore = _store.LiveStore
    _init = LiveStore.__init__

    def _init_split(self: LiveStore, client: Any, *args: Any, **kwargs: Any) -> None:
        _init(self, client, *args, **kwargs)
        from regiq_tasks.store.scripts import LuaScript  # pipelined without SCRIPT EXISTS

        with_metrics = self._apply
        without = LuaScript(client, _apply_without_metrics())

        def dispatch(keys: Any, args: Any, client: Any = None) -> Any:  # args[1]: job id
            script = without if str(args[1]).startswith(NO_METRICS_ID_PREFIX) else with_metrics
            return script(keys=keys, args=args, client=client)

        self._apply = dispatch  # type: ignore[assignment]

    LiveStore.__init__ = _init_split  # type: ignore[method-assign]
install(app, **_regiq)

if os.environ.get("BENCH_NO_HOUSEKEEPER") == "1":
    import regiq_tasks.signals.handlers

    regiq_tasks.signals.handlers.start_housekeeper = lambda app, hostname=None: None  # type: ignore
if os.environ.get("BENCH_ARCHIVER_STATS"):
    import atexit
    import json

    from regiq_tasks.housekeeping.archive import Archiver

    _stats: dict[str, Any] = {"batches": 0, "empty_batches": 0, "rows": 0, "thread_cpu_s": 0.0,
              "wall_s": 0.0, "pid": None}
    _run_once = Archiver.run_once

    def _counted_run_once(self: Archiver, block_ms: int = 0) -> int:
        c0, w0 = time.thread_time(), time.perf_counter()
        rows = _run_once(self, block_ms)
        _stats["thread_cpu_s"] += time.thread_time() - c0
        _stats["wall_s"] += time.perf_counter() - w0
        _stats["batches"] += 1
        _stats["empty_batches"] += rows == 0
        _stats["rows"] += rows
        _stats["pid"] = os.getpid()
        return rows

    def _dump_stats() -> None:
        if _stats["batches"]:
            with open(os.environ["BENCH_ARCHIVER_STATS"], "w") as fh:
                json.dump(_stats, fh)

    Archiver.run_once = _counted_run_once  # type: ignore[method-assign]
    atexit.register(_dump_stats)
if os.environ.get("BENCH_SWITCH_INTERVAL"):
    import sys

    sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL"]))


@app.task(name="bench.noop_bare")
def noop_bare() -> None:
    """A plain Celery no-op."""
    return


@app.task(base=TrackedTask, bind=True, name="bench.noop_tracked")
def noop_tracked(self: TrackedTask) -> None:
    """A tracked no-op."""
    return


@app.task(base=TrackedTask, bind=True, name="bench.step20")
def step20(self: TrackedTask) -> None:
    """A tracked job of about 20 ms reporting progress 4 times (``bench_sentinel.py``)."""
    for i in range(4):
        self.progress(i + 1, 4)
        time.sleep(0.005)


_run_logs: dict[int, int] = {}  # pid -> file descriptor of its BENCH_RUN_LOG file


def _run_log(line: str) -> None:
    """Append one line to this process's ``BENCH_RUN_LOG`` file (one ``write``)."""
    fd = _run_logs.get(os.getpid())
    if fd is None:
        path = os.path.join(os.environ["BENCH_RUN_LOG"], f"{os.getpid()}.log")
        fd = _run_logs[os.getpid()] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.write(fd, (line + "\n").encode())


@app.task(base=TrackedTask, bind=True, name="bench.short")
def short(self: TrackedTask, ms: float) -> None:
    """A tracked job of ``ms`` milliseconds (``bench_workers.py``); its completion is
    logged to ``BENCH_RUN_LOG``."""
    time.sleep(ms / 1000)
    if os.environ.get("BENCH_RUN_LOG"):
        _run_log(f"E {self.request.id} {self.request.hostname}")


if os.environ.get("BENCH_RUN_LOG"):
    from celery import signals as _signals

    @_signals.task_prerun.connect(weak=False)
    def _delivered(task_id: str = "", task: Any = None, **_: Any) -> None:
        if getattr(task, "name", None) != "bench.short":
            return
        redelivered = (task.request.delivery_info or {}).get("redelivered")
        _run_log(f"D {task_id} {task.request.hostname} {1 if redelivered else 0} "
                 f"{time.time():.3f}")


@app.task(name="bench.sleep100_bare")
def sleep100_bare() -> None:
    """A plain Celery task that sleeps 100 ms (``--body sleep100``: the cost per task,
    not per second of work)."""
    time.sleep(0.1)


@app.task(base=TrackedTask, bind=True, name="bench.sleep100_tracked")
def sleep100_tracked(self: TrackedTask) -> None:
    """The same task tracked."""
    time.sleep(0.1)


_log10 = logging.getLogger("bench.log10")


def _log_ten() -> None:
    for i in range(10):
        _log10.info("document %d of 10 parsed, %d fields", i, 40 + i)


@app.task(name="bench.log10_bare")
def log10_bare() -> None:
    """A plain Celery task that logs 10 INFO lines (``--body log10``)."""
    _log_ten()


@app.task(base=TrackedTask, bind=True, name="bench.log10_tracked")
def log10_tracked(self: TrackedTask) -> None:
    """The same task tracked: its 10 lines are kept with the job."""
    _log_ten()


def _timed_batches(progress: Any, calls: int, batch: int, message: str | None,
                   rt: Any) -> tuple[list[float], list[bool]]:
    """ns per call of each batch of ``batch`` progress() calls; whether it flushed."""
    per_call: list[float] = []
    flushed: list[bool] = []
    clock = time.perf_counter_ns
    for start in range(0, calls, batch):
        stop = min(calls, start + batch)
        before = rt.next_flush
        if message is None:
            t0 = clock()
            for i in range(start, stop):
                progress(i + 1, calls)
            t1 = clock()
        else:
            t0 = clock()
            for i in range(start, stop):
                progress(i + 1, calls, message)
            t1 = clock()
        per_call.append((t1 - t0) / (stop - start))
        flushed.append(rt.next_flush != before)
    return per_call, flushed


def _loop_baseline(calls: int, batch: int) -> list[float]:
    """ns per iteration of the same loop without the call (``i + 1`` kept)."""
    per_iter: list[float] = []
    clock = time.perf_counter_ns
    for start in range(0, calls, batch):
        stop = min(calls, start + batch)
        t0 = clock()
        for i in range(start, stop):
            i + 1
        t1 = clock()
        per_iter.append((t1 - t0) / (stop - start))
    return per_iter


@app.task(base=TrackedTask, bind=True, name="bench.progress_loop")
def progress_loop(self: TrackedTask, calls: int = 200_000, batch: int = 1000,
                  flush_seconds: float = 3.0) -> dict[str, Any]:
    """Time ``self.progress()`` inside a real tracked run; returns the raw figures.

    1. Flush phase (``flush_seconds``): every call timed on its own; calls that
       flushed (``next_flush`` moved) are kept, split by whether they also published
       the PROGRESS state to the result backend (``next_backend`` moved).
    2. Coalesced phase: ``calls`` calls without and ``calls`` calls with a message, in
       batches of ``batch``, each batch timed as a whole; plus the bare loop baseline.
    """
    rt = current_runtime()
    assert rt is not None and rt.task is self, "not running as a tracked job"
    progress = self.progress
    clock = time.perf_counter_ns

    flush_ns: list[int] = []
    flush_backend_ns: list[int] = []
    phase_calls = 0
    big_total = 10**12
    deadline = time.monotonic() + flush_seconds
    i = 0
    while True:
        nf, nb = rt.next_flush, rt.next_backend
        t0 = clock()
        progress(i + 1, big_total)
        t1 = clock()
        i += 1
        if rt.next_flush != nf:
            (flush_backend_ns if rt.next_backend != nb else flush_ns).append(t1 - t0)
            if time.monotonic() >= deadline:
                break
    phase_calls = i
    empty_timer = []
    for _ in range(1000):
        t0 = clock()
        t1 = clock()
        empty_timer.append(t1 - t0)

    plain, plain_flushed = _timed_batches(progress, calls, batch, None, rt)
    with_msg, msg_flushed = _timed_batches(progress, calls, batch, "step", rt)
    baseline = _loop_baseline(calls, batch)
    return {"calls": calls, "batch": batch, "pid": os.getpid(),
            "plain_ns": plain, "plain_flushed": plain_flushed,
            "message_ns": with_msg, "message_flushed": msg_flushed,
            "loop_baseline_ns": baseline,
            "flush_ns": flush_ns, "flush_backend_ns": flush_backend_ns,
            "flush_phase_calls": phase_calls, "flush_phase_seconds": flush_seconds,
            "timer_overhead_ns": sorted(empty_timer)[len(empty_timer) // 2]}


@app.task(base=TrackedTask, bind=True, name="bench.progress_flush_profile")
def progress_flush_profile(self: TrackedTask, flushes: int = 20, backend: bool = True) -> str:
    """Diagnostic: cProfile of progress() calls that flush, with (``backend``) or without
    the PROGRESS state publication."""
    import cProfile
    import io
    import pstats

    rt = current_runtime()
    assert rt is not None and rt.task is self, "not running as a tracked job"
    profiler = cProfile.Profile()
    done = 0
    i = 0
    deadline = time.monotonic() + flushes * 2.0 + 5.0  # bounded even if nothing flushes
    while done < flushes and time.monotonic() < deadline:
        i += 1
        now = time.monotonic()
        if now >= rt.next_flush and (now >= rt.next_backend) == backend:
            profiler.enable()
            self.progress(i, 10**12)
            profiler.disable()
            done += 1
        else:
            self.progress(i, 10**12)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(30)
    return f"{done} profiled calls\n" + out.getvalue()


@app.task(base=TrackedTask, bind=True, name="bench.cooperative")
def cooperative(self: TrackedTask, steps: int = 6000) -> int:
    """Report progress every 10 ms for up to a minute (the cancel-latency benchmark)."""
    for i in range(steps):
        time.sleep(0.01)
        self.progress(i + 1, steps)
    return steps


if os.environ.get("BENCH_PROFILE_DIR"):  # diagnostic: cProfile of each pool child
    import cProfile

    from celery import signals

    _profiler = cProfile.Profile()

    @signals.worker_process_init.connect(weak=False)
    def _profile_start(**_: Any) -> None:
        _profiler.enable()

    @signals.worker_process_shutdown.connect(weak=False)
    def _profile_dump(**_: Any) -> None:
        _profiler.disable()
        _profiler.dump_stats(os.path.join(os.environ["BENCH_PROFILE_DIR"],
                                          f"child-{os.getpid()}.prof"))
if os.environ.get("BENCH_ASYNC_START") == "1":  # diagnostic only: the start write queued
    from regiq_tasks.tracking.writer import Writer

    def _queued_start(self: Writer, change: Any) -> None:
        self.submit(change)
        return None

    Writer.apply_now = _queued_start  # type: ignore[method-assign,assignment]
