"""``regiq top``: one table (``--once``), JSON, bad input, and the live view on a terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import termios
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from click.testing import CliRunner

from regiq_tasks import get_performance
from regiq_tasks.cli.main import main
from regiq_tasks.errors import InvalidParameter
from regiq_tasks.tracking.tracker import get_tracker
from tests.fixtures import cli_target
from tests.fixtures.ports import free_port
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.services import ROOT, thread_worker
from tests.fixtures.waiting import wait_for

APP = ["--app", "tests.fixtures.cli_target:app"]
ANSI = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|[()][A-Z0-9]|[=>])")


@pytest.fixture
def top(app: Celery) -> Iterator[Callable[..., Any]]:
    """``regiq top ARGS --app <this test's app>`` through click's runner (not a terminal)."""
    cli_target.app = app

    def invoke(*args: str) -> Any:
        # off a terminal, at the default width whatever COLUMNS the test run has
        return CliRunner().invoke(main, ["top", *args, *APP], env={"COLUMNS": None})
    yield invoke
    cli_target.app = None


def run_jobs(app: Celery) -> None:
    """3 ``ingest`` jobs and 2 ``count`` jobs, finished by a real worker."""
    with thread_worker(app):
        results = [app.tasks["t.add"].delay(i, 1) for i in range(3)]
        results += [app.tasks["t.count"].delay(2) for _ in range(2)]
        for result in results:
            result.get(timeout=30)
    tracker = get_tracker(app)
    wait_for(lambda: tracker.store.get(results[-1].id)["status"] == "succeeded", 10,
             "the last job recorded as succeeded")


def rows(output: str) -> dict[str, list[str]]:
    """The table's rows by type: the cells after the type."""
    found = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if line.startswith("│") and len(cells) == 12:
            found[cells[0]] = cells[1:]
    return found


@pytest.mark.timeout(120)
def test_once_prints_one_table_with_each_types_finished_count_and_json_the_same(
        app: Celery, top: Callable[..., Any]) -> None:
    run_jobs(app)
    out = top("--once")
    assert out.exit_code == 0, out.output
    assert "Job types, window 5m" in out.output
    assert "succeeded 5" in out.output and "queued 0" in out.output
    table = rows(out.output)
    assert set(table) == {"ingest", "count"}, out.output
    # in/min, fin/min, finished, running, slow, queued, fail %, dur p50/p95, wait p50/p95
    assert table["ingest"][2:6] == ["3", "0", "0", "0"]
    assert table["count"][2:6] == ["2", "0", "0", "0"]
    assert float(table["ingest"][0]) > 0 and float(table["ingest"][1]) > 0
    assert all(cell != "-" for cell in table["ingest"][6:]), table

    doc = json.loads(top("--once", "--json").output)
    assert doc["window"] == "5m" and doc["jobs"]["succeeded"] == 5
    by_type = {row["type"]: row for row in doc["types"]}
    assert {t: (r["published"], r["finished"], r["succeeded"], r["failure_pct"],
                r["running"], r["queued"])
            for t, r in by_type.items()} == {"ingest": (3, 3, 3, 0.0, 0, 0),
                                              "count": (2, 2, 2, 0.0, 0, 0)}
    assert by_type["ingest"]["duration_p95_s"] > 0 and by_type["count"]["wait_p50_s"] >= 0
    assert doc["throughput"]["finished_60s"] == 5
    assert app.conf.task_default_queue in {q["name"] for q in doc["queues"]}
    # Without --once off a terminal: the same single table
    assert rows(top().output).keys() == {"ingest", "count"}


@pytest.mark.timeout(120)
def test_the_1m_window_counts_the_last_minute_or_two(app: Celery,
                                                     top: Callable[..., Any]) -> None:
    run_jobs(app)
    doc = json.loads(top("--once", "--json", "--window", "1m").output)
    assert doc["window"] == "1m"
    assert {r["type"]: r["finished"] for r in doc["types"]} == {"ingest": 3, "count": 2}
    # the minute copy before the last one, or (none taken yet) everything recorded
    if doc["from"] is not None:
        began = datetime.fromisoformat(doc["from"].replace("Z", "+00:00"))
        assert 0 <= (datetime.now(UTC) - began).total_seconds() <= 125
    # the API keeps 5m as its shortest window
    with pytest.raises(InvalidParameter):
        get_performance(window="1m", app=app)


@pytest.mark.timeout(60)
def test_a_queued_job_shows_in_its_types_row_and_the_queue_line(
        app: Celery, top: Callable[..., Any]) -> None:
    app.tasks["t.add"].delay(1, 2)
    doc = json.loads(top("--json").output)
    assert [(r["type"], r["published"], r["queued"], r["finished"])
            for r in doc["types"]] == [("ingest", 1, 1, 0)]
    name = app.conf.task_default_queue
    queue = next(q for q in doc["queues"] if q["name"] == name)
    assert queue["depth"] == 1 and queue["oldest_wait_s"] is not None
    assert re.search(rf"{re.escape(name)} 1 \(oldest [\d.]+m?s\)", top("--once").output)


@pytest.mark.parametrize("window", ["30s", "0m", "1y", "", "99d"])
def test_a_bad_window_is_a_usage_error_naming_the_option(top: Callable[..., Any],
                                                          window: str) -> None:
    out = top("--window", window)
    assert out.exit_code == 2 and "--window" in out.output and "Traceback" not in out.output


def test_redis_down_is_one_clear_line_and_exit_1(make_app: Callable[..., Celery]) -> None:
    cli_target.app = make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    try:
        out = CliRunner().invoke(main, ["top", "--once", *APP])
    finally:
        cli_target.app = None
    assert out.exit_code == 1, out.output
    assert "unreachable" in out.output and "Traceback" not in out.output
    assert len(out.output.strip().splitlines()) == 1


# --- the live view on a terminal ------------------------------------------------------


class Terminal:
    """``regiq top`` on a pseudo-terminal (its stdin, stdout and stderr): what it drew
    so far, and keys typed on it."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.controller, terminal = pty.openpty()
        self.proc = subprocess.Popen([sys.executable, "-m", "regiq_tasks.cli", *args], cwd=ROOT,
                                     env=env, stdin=terminal, stdout=terminal, stderr=terminal)
        os.close(terminal)
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.controller, 65536)
            except OSError:  # EIO: the command exited and closed the terminal
                return
            if not data:
                return
            self._chunks.append(data)

    def text(self) -> str:
        return ANSI.sub("", b"".join(self._chunks).decode(errors="replace"))

    def wait_text(self, pattern: str, after: int = 0) -> int:
        """Wait until ``pattern`` is drawn after offset ``after``; its end offset."""
        match = wait_for(lambda: re.compile(pattern).search(self.text(), after), 30,
                         f"{pattern!r} on the terminal")
        return match.end()

    def type(self, keys: str) -> None:
        os.write(self.controller, keys.encode())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(5)
        os.close(self.controller)


@pytest.fixture
def terminal_env(prefix: str, redis_url: str, sqlite_url: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "REGIQ_TEST_PREFIX": prefix,
            "REGIQ_TEST_REDIS_URL": redis_url, "REGIQ_TEST_DATABASE_URL": sqlite_url,
            "COLUMNS": "160", "LINES": "40", "TERM": "xterm"}


LIVE = ["top", "--interval", "0.5", "--app", "tests.fixtures.worker_app:app"]


@pytest.mark.timeout(120)
def test_the_live_view_draws_switches_window_on_a_key_and_quits_on_q(
        app: Celery, terminal_env: dict[str, str]) -> None:
    run_jobs(app)
    term = Terminal(LIVE, terminal_env)
    try:
        # It draws the header, the table with both types and the keys, in place
        end = term.wait_text(r"Job types, window 5m")
        term.wait_text(r"ingest\s+│\s+[\d.]+\s+│\s+[\d.]+\s+│\s+3\s+│", end)
        term.wait_text(r"keys: 1 1m")
        # A refresh comes without any key
        end = term.wait_text(r"Job types, window 5m", end)
        # "3" switches to the 1h window, "4" to 24h, "1" to 1m, "w" cycles on to 5m
        term.type("3")
        end = term.wait_text(r"Job types, window 1h", end)
        term.wait_text(r"count\s+│\s+[\d.]+\s+│\s+[\d.]+\s+│\s+2\s+│", end)
        term.type("4")
        end = term.wait_text(r"Job types, window 24h", end)
        term.type("1")
        end = term.wait_text(r"Job types, window 1m", end)
        term.wait_text(r"ingest\s+│\s+[\d.]+\s+│\s+[\d.]+\s+│\s+3\s+│", end)
        term.type("w")
        term.wait_text(r"Job types, window 5m", end)
        # "q" quits, exit code 0, the terminal restored (echo and line mode back on)
        term.type("q")
        assert term.proc.wait(30) == 0, term.text()
        assert "Traceback" not in term.text()
        modes = termios.tcgetattr(term.controller)[3]
        assert modes & termios.ECHO and modes & termios.ICANON
    finally:
        term.close()


@pytest.mark.timeout(60)
def test_ctrl_c_quits_the_live_view_cleanly(app: Celery, terminal_env: dict[str, str]) -> None:
    term = Terminal(LIVE, terminal_env)
    try:
        term.wait_text(r"Job types, window 5m")
        term.proc.send_signal(signal.SIGINT)
        assert term.proc.wait(30) == 0, term.text()
        assert "Traceback" not in term.text() and "Aborted" not in term.text()
    finally:
        term.close()


@pytest.mark.timeout(90)
def test_redis_lost_during_the_live_view_ends_it_with_one_line_and_exit_1(
        tmp_path: Path, terminal_env: dict[str, str]) -> None:
    server = RedisServer(tmp_path / "redis", persistent=False).start()
    env = {**terminal_env, "REGIQ_TEST_REDIS_URL": server.url}
    term = Terminal(LIVE, env)
    try:
        end = term.wait_text(r"Job types, window 5m")
        server.stop()
        assert term.proc.wait(30) == 1, term.text()
        after = term.text()[end:]
        assert "Error: " in after and "unreachable" in after and "Traceback" not in after
        assert termios.tcgetattr(term.controller)[3] & termios.ECHO
    finally:
        term.close()
        server.stop()
