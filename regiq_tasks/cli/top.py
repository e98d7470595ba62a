"""``regiq top``: an htop-like live view of tracked jobs per job type, or one table.

Each refresh reads three things: :func:`~regiq_tasks.metrics.performance.get_performance`
over the window (per-type outcomes and duration / queue-wait percentiles),
:func:`~regiq_tasks.metrics.realtime.snapshot` (jobs by status, active ones by type, queue
depths and oldest waits) and :func:`~regiq_tasks.metrics.performance.throughput` (jobs
finished over the last 10 s and 60 s). :func:`collect` joins them into one document:
what ``--json`` prints and what the table shows.

The live view redraws in place every ``--interval`` seconds (``rich.live.Live`` on the
alternate screen). Keys are read by a small thread with the terminal in cbreak mode, so
that waiting for a key never delays a refresh: ``1`` / ``2`` / ``3`` / ``4`` switch the
window to 1m / 5m / 1h / 24h, ``w`` cycles, ``q`` quits; Ctrl-C quits too, with exit
code 0. A store that cannot be reached ends the command with one line and exit code 1.
"""

from __future__ import annotations

import os
import queue
import select
import sys
import termios
import threading
import time
import tty
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TextIO

import click
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from regiq_tasks.cli.support import APP_HELP, app_option, clean_errors, print_json
from regiq_tasks.cli.tables import json_option
from regiq_tasks.errors import InvalidParameter, reachable
from regiq_tasks.metrics.windows import Window, parse_window
from regiq_tasks.tracking.tracker import get_tracker

WINDOW_KEYS = {"1": "1m", "2": "5m", "3": "1h", "4": "24h"}  # the live view's windows
SHORTEST_WINDOW_S = 60  # 1m: the minute copy before the last one (1 to 2 minutes of jobs)
DEFAULT_INTERVAL = 2.0  # s between two refreshes of the live view
STATUS_ORDER = ("queued", "running", "retrying", "succeeded", "failed", "cancelled", "lost")


def _window_option(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A ``--window`` the counters answer (``1m`` up to the retention), else exit 2."""
    try:
        return _parse(value).text
    except InvalidParameter as exc:
        raise click.BadParameter(exc.problem, ctx=ctx, param=param) from None


@click.command()
@click.option("--window", default="5m", show_default=True, callback=_window_option,
              help="Initial window of the per-type figures: <n>m, <n>h or <n>d "
                   "(1m up to the metrics retention).")
@click.option("--once", is_flag=True, help="Print one table (or --json) and exit.")
@click.option("--interval", type=click.FloatRange(0.5, 60), default=DEFAULT_INTERVAL,
              show_default=True, help="Seconds between refreshes of the live view.")
@json_option
@click.option("--app", "app_spec", help=APP_HELP)
def top(window: str, once: bool, interval: float, as_json: bool, app_spec: str | None) -> None:
    """Live view per job type: rates, running, queued, failures, duration and queue wait.

    Keys: 1/2/3/4 window 1m/5m/1h/24h, w next window, q quit. With --once (or when the
    output is not a terminal) print one table; with --json the same figures as JSON.
    """
    with clean_errors():
        app = app_option(app_spec)
        doc = collect(app, window)
        if as_json:
            print_json(doc)
            return
        if once or not sys.stdout.isatty():
            _console().print(render(doc))
            return
        run_live(app, window, interval, doc)


def _console() -> Console:
    """A console; off a terminal, wide enough for the table (or ``COLUMNS``)."""
    if sys.stdout.isatty():
        return Console()
    return Console(width=int(os.environ.get("COLUMNS") or 160))


# --- the figures ---------------------------------------------------------------------


def collect(app: Any, window: str, now: float | None = None) -> dict[str, Any]:
    """One reading: jobs by status, throughput, queues and a row per job type."""
    from regiq_tasks.metrics.performance import get_performance, throughput
    from regiq_tasks.metrics.realtime import snapshot
    from regiq_tasks.predict.slow import slow_running

    now = time.time() if now is None else now
    with reachable("regiq top"):
        perf = get_performance(window=_parse(window), app=app, now=now)
        live = snapshot(app)
        rate = throughput(app, now=now)
        slow = Counter(found.job.type for found in slow_running(get_tracker(app), now))
    per_type = {entry["type"]: entry for entry in perf["types"]}
    names = sorted(set(per_type) | set(live["by_type"]))
    return {
        "at": _iso(now), "window": perf["window"], "from": perf["from"],
        "jobs": {s: live["jobs"].get(s, 0) for s in STATUS_ORDER},
        "throughput": {"finished_10s": rate["finished_10s"],
                       "finished_60s": rate["finished_60s"],
                       "per_s_10s": round(rate["finished_10s"] / 10, 3),
                       "per_s_60s": round(rate["finished_60s"] / 60, 3)},
        "queues": live["queues"],
        "types": [{**_row(name, per_type.get(name), live["by_type"].get(name, {})),
                   "slow": slow.get(name, 0)} for name in names],
    }


def _row(name: str, perf: Mapping[str, Any] | None,
         active: Mapping[str, int]) -> dict[str, Any]:
    """A job type's row: the window's outcomes and percentiles, its active jobs now."""
    perf = perf or {}
    finished = int(perf.get("count", 0))
    failed = int(perf.get("failed", 0)) + int(perf.get("lost", 0))
    duration, wait = perf.get("duration_s") or {}, perf.get("queue_wait_s") or {}
    return {
        "type": name, "published": int(perf.get("published", 0)),
        "published_per_min": perf.get("published_per_min") or 0.0, "finished": finished,
        "finished_per_min": perf.get("throughput_per_min") or 0.0,
        "succeeded": int(perf.get("succeeded", 0)), "failed": int(perf.get("failed", 0)),
        "cancelled": int(perf.get("cancelled", 0)), "lost": int(perf.get("lost", 0)),
        "running": int(active.get("running", 0)), "queued": int(active.get("queued", 0)),
        "retrying": int(active.get("retrying", 0)),
        "failure_pct": round(100 * failed / finished, 1) if finished else None,
        "duration_p50_s": duration.get("p50"), "duration_p95_s": duration.get("p95"),
        "wait_p50_s": wait.get("p50"), "wait_p95_s": wait.get("p95"),
    }


def _parse(window: str) -> Window:
    """``window`` as ``regiq top`` reads it: 1m up to the retention (the default 35 d:
    the app's setting is checked by the read itself)."""
    return parse_window(window, shortest_s=SHORTEST_WINDOW_S)


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- the drawing ---------------------------------------------------------------------


def span(seconds: float | None) -> str:
    """A duration in a narrow cell: ``850ms``, ``4.2s``, ``3m05s``, ``2h10m``; ``-`` if None."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def header(doc: Mapping[str, Any]) -> Text:
    """The lines above the table: time, jobs by status, throughput, queues."""
    jobs, rate = doc["jobs"], doc["throughput"]
    line = Text()
    line.append(f"regiq top  {doc['at'][11:19]} UTC  ", style="bold")
    line.append("  ".join(f"{status} {jobs[status]}" for status in STATUS_ORDER))
    line.append(f"\nthroughput {rate['per_s_10s']:g}/s (10s)  {rate['per_s_60s']:g}/s (60s)")
    queues = "  ".join(
        f"{q['name']} {'?' if q['depth'] is None else q['depth']}"
        + (f" (oldest {span(q['oldest_wait_s'])})" if q["oldest_wait_s"] is not None else "")
        for q in doc["queues"])
    line.append(f"\nqueues {queues or '-'}")
    return line


def table(doc: Mapping[str, Any]) -> Table:
    """One row per job type over the document's window."""
    # No copy of the counters at the window's start yet: they count since they began.
    since = f" since {doc['from'][11:19]}" if doc.get("from") else " (all recorded so far)"
    grid = Table(title=f"Job types, window {doc['window']}{since}", title_justify="left")
    grid.add_column("type")
    for title in ("in/min", "fin/min", "finished", "running", "slow", "queued", "fail %",
                  "dur p50", "dur p95", "wait p50", "wait p95"):
        grid.add_column(title, justify="right", no_wrap=True)
    if not doc["types"]:
        grid.caption = "no jobs in the window"
    for row in doc["types"]:
        fail = row["failure_pct"]
        grid.add_row(row["type"] or "(none)", f"{row['published_per_min']:g}",
                     f"{row['finished_per_min']:g}",
                     str(row["finished"]), str(row["running"]), str(row.get("slow", 0)),
                     str(row["queued"]),
                     "-" if fail is None else f"{fail:g}",
                     span(row["duration_p50_s"]), span(row["duration_p95_s"]),
                     span(row["wait_p50_s"]), span(row["wait_p95_s"]))
    return grid


def render(doc: Mapping[str, Any], keys: bool = False) -> Group:
    """The header and the table (and, live, the keys)."""
    parts: list[Any] = [header(doc), table(doc)]
    if keys:
        parts.append(Text("keys: 1 1m  2 5m  3 1h  4 24h  w next window  q quit", style="dim"))
    return Group(*parts)


# --- the live view -------------------------------------------------------------------


class KeyReader:
    """Keys typed on ``stream`` (a terminal), read by a thread with the terminal in
    cbreak mode (no echo, no line buffering; Ctrl-C still interrupts). On anything else
    it reads nothing, and :meth:`wait` is a plain sleep."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._keys: queue.Queue[str] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved: Any = None

    def __enter__(self) -> KeyReader:
        try:
            fd = self._stream.fileno()
        except (AttributeError, OSError, ValueError):
            return self
        if not os.isatty(fd):
            return self
        self._saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)
        self._thread = threading.Thread(target=self._read, args=(fd,), daemon=True,
                                        name="regiq-top-keys")
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)
        if self._saved is not None:
            termios.tcsetattr(self._stream.fileno(), termios.TCSADRAIN, self._saved)

    def _read(self, fd: int) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                continue
            data = os.read(fd, 64)
            if not data:
                return
            for char in data.decode(errors="ignore"):
                self._keys.put(char)

    def wait(self, timeout: float) -> str | None:
        """The next key typed within ``timeout`` seconds, else None."""
        try:
            return self._keys.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None


def next_window(window: str) -> str:
    """The window after ``window`` in the keys' cycle (5m after any other)."""
    cycle = list(WINDOW_KEYS.values())
    return cycle[(cycle.index(window) + 1) % len(cycle)] if window in cycle else cycle[0]


def run_live(app: Any, window: str, interval: float, doc: dict[str, Any]) -> None:
    """Redraw every ``interval`` seconds and at a window key, until ``q`` or Ctrl-C."""
    console = Console()
    try:
        with KeyReader(sys.stdin) as keys, Live(render(doc, keys=True), console=console,
                                                 screen=True, auto_refresh=False) as live:
            due = time.monotonic() + interval
            while True:
                key = keys.wait(due - time.monotonic())
                if key in ("q", "Q"):
                    return
                if key in WINDOW_KEYS:
                    window = WINDOW_KEYS[key]
                elif key in ("w", "W"):
                    window = next_window(window)
                elif key is not None:
                    continue  # any other key: keep waiting for the refresh
                live.update(render(collect(app, window), keys=True), refresh=True)
                due = time.monotonic() + interval
    except KeyboardInterrupt:
        return
