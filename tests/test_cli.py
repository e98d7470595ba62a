"""The ``regiq`` command: jobs list/show/cancel, db upgrade; clear errors, no tracebacks."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from click.testing import CliRunner

from regiq_tasks.cli.main import main
from regiq_tasks.history.db import head_revision
from tests.fixtures import cli_target
from tests.fixtures.alerts import alert_worker, define_alert_tasks, wait_alert
from tests.fixtures.services import ROOT


@pytest.fixture
def run(app: Celery) -> Any:
    cli_target.app = app
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(main, [*args, "--app", "tests.fixtures.cli_target:app"]
                             if args[0] == "jobs" else list(args))
    yield invoke
    cli_target.app = None


def test_jobs_show_and_list_print_the_records_as_json(app: Celery, run: Any) -> None:
    result = app.tasks["t.add"].delay(1, 2)
    shown = run("jobs", "show", result.id)
    assert shown.exit_code == 0 and json.loads(shown.output)["status"] == "queued"
    listed = run("jobs", "list", "--status", "queued")
    assert [j["id"] for j in json.loads(listed.output)["items"]] == [result.id]


def test_jobs_cancel_records_the_reason_and_who_asked(app: Celery, run: Any) -> None:
    result = app.tasks["t.add"].delay(1, 2)
    out = run("jobs", "cancel", result.id, "--reason", "duplicate", "--requested-by", "ops")
    assert out.exit_code == 0, out.output
    job = json.loads(out.output)
    assert job["status"] == "cancelled" and job["cancel"]["requested_by"] == "ops"
    again = run("jobs", "cancel", "--pipeline", result.id, "--reason", "x")
    assert again.exit_code == 0 and json.loads(again.output)["status"] == "cancelled"


def test_jobs_retry_prints_the_new_job_and_refuses_in_one_line(app: Celery, run: Any) -> None:
    result = app.tasks["t.add"].delay(1, 2)  # no worker: it stays queued
    refused = run("jobs", "retry", result.id)
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert refused.output.strip().splitlines() == [
        f"Error: job '{result.id}' cannot be retried: it is queued; only failed, lost or "
        "cancelled jobs are retried"]
    run("jobs", "cancel", result.id, "--reason", "duplicate")
    out = run("jobs", "retry", result.id, "--requested-by", "ops")
    assert out.exit_code == 0, out.output
    new = json.loads(out.output)
    assert new["retry_of"] == result.id and new["status"] == "queued"
    again = run("jobs", "retry", result.id)
    assert again.exit_code == 1 and f"retried already as {new['id']}" in again.output
    assert "no job with id 'nope'" in run("jobs", "retry", "nope").output


@pytest.mark.parametrize("args, message", [
    (("jobs", "show", "missing-id"), "no job with id 'missing-id'"),
    (("jobs", "list", "--limit", "0"), "limit: expected an integer from 1 to 500"),
    (("jobs", "list", "--since", "last tuesday"), "since: not an ISO-8601 date-time"),
    (("jobs", "cancel", "missing-id", "--reason", "x"), "no job with id 'missing-id'"),
    (("jobs", "cancel", "--reason", "x"), "give either JOB_ID or --pipeline"),
])
def test_bad_input_is_one_clear_line_and_a_non_zero_exit(run: Any, args: tuple[str, ...],
                                                         message: str) -> None:
    out = run(*args)
    assert out.exit_code in (1, 2)
    assert message in out.output and "Traceback" not in out.output


def test_db_upgrade_brings_the_history_schema_to_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    out = CliRunner().invoke(main, ["db", "upgrade", "--database-url", url])
    assert out.exit_code == 0 and f"history schema at {head_revision()}" in out.output
    assert CliRunner().invoke(main, ["db", "current", "--database-url", url]).output.strip() \
        == head_revision()


# --- --app imports from the current directory, as `celery -A` does --------------------


def test_app_is_imported_from_the_current_directory_like_celery_a(
        tmp_path: Path, prefix: str, redis_url: str, sqlite_url: str) -> None:
    # Given a project folder with its own app module, and `regiq` started as the installed
    # console script is (a script elsewhere: the current directory is not on sys.path)
    project, bin_dir = tmp_path / "project", tmp_path / "bin"
    project.mkdir()
    bin_dir.mkdir()
    (project / "mymodule.py").write_text(
        "from celery import Celery\nfrom regiq_tasks import install\n"
        "app = Celery('mymodule', set_as_current=False)\ninstall(app)\n")
    script = bin_dir / "regiq"
    script.write_text("import sys\nfrom regiq_tasks.cli.main import main\nsys.exit(main())\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REGIQ_REDIS_URL": redis_url,
           "REGIQ_KEY_PREFIX": prefix, "REGIQ_DATABASE_URL": sqlite_url}
    # When it lists jobs of --app mymodule:app from that folder
    out = subprocess.run([sys.executable, str(script), "jobs", "list", "--app", "mymodule:app"],
                         cwd=project, env=env, capture_output=True, text=True, timeout=60,
                         check=False)
    # Then the module was found and its (empty) live store listed
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"items": [], "next_cursor": None}


# --- listings: a table on a terminal, JSON with --json or when piped -------------------

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def on_terminal(args: list[str], env: dict[str, str]) -> str:
    """What ``regiq ARGS`` prints when its output is a terminal (a pseudo-terminal)."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "regiq_tasks.cli", *args], cwd=ROOT,
                            env=env, stdin=subprocess.DEVNULL, stdout=terminal,
                            stderr=terminal)
    os.close(terminal)
    chunks = []
    while True:
        try:
            data = os.read(controller, 65536)
        except OSError:  # EIO: the command exited and closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(controller)
    assert proc.wait(60) == 0, b"".join(chunks)
    return ANSI.sub("", b"".join(chunks).decode(errors="replace").replace("\r\n", "\n"))


@pytest.fixture
def terminal_env(prefix: str, redis_url: str, sqlite_url: str) -> dict[str, str]:
    """Environment of a `regiq` subprocess on `--app tests.fixtures.worker_app:app` (this
    test's app)."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "REGIQ_TEST_PREFIX": prefix,
            "REGIQ_TEST_REDIS_URL": redis_url, "REGIQ_TEST_DATABASE_URL": sqlite_url,
            "COLUMNS": "200", "TERM": "xterm"}


@pytest.mark.timeout(120)
def test_listings_print_a_table_on_a_terminal_and_json_with_the_json_flag(
        app: Celery, terminal_env: dict[str, str]) -> None:
    define_alert_tasks(app)
    with alert_worker(app):
        failed = app.tasks["t.fail"].delay("bad document")
        wait_alert(app, rule="job_failed", severity="CRITICAL")
    queued = app.tasks["t.add"].delay(1, 2)
    app_args = ["--app", "tests.fixtures.worker_app:app"]

    jobs = on_terminal(["jobs", "list", *app_args], terminal_env)
    assert "Live jobs (2)" in jobs and "{" not in jobs
    assert re.search(r"┃ id\s+┃ type\s+┃ status\s+┃ progress ┃ created \(UTC\)", jobs), jobs
    assert re.search(rf"│ {queued.id} │ ingest\s+│ queued\s+│", jobs), jobs
    assert re.search(rf"│ {failed.id} │ fail\s+│ failed .* ValueError: bad document", jobs)
    alerts = on_terminal(["alerts", "list", *app_args], terminal_env)
    assert "Alerts (1)" in alerts
    assert re.search(r"│\s+1 │ CRITICAL\s+│ open\s+│ job_failed\s+│\s+1 │", alerts), alerts

    as_json = on_terminal(["jobs", "list", "--json", *app_args], terminal_env)
    assert {j["id"] for j in json.loads(as_json)["items"]} == {queued.id, failed.id}
    assert json.loads(on_terminal(["alerts", "list", "--json", *app_args],
                                  terminal_env))["items"][0]["rule"] == "job_failed"


def test_listings_print_json_when_their_output_is_piped(app: Celery, run: Any) -> None:
    queued = app.tasks["t.add"].delay(1, 2)
    for args in (("jobs", "list"), ("jobs", "list", "--history"), ("jobs", "list", "--json")):
        out = run(*args)
        assert out.exit_code == 0, out.output
        assert set(json.loads(out.output)) == {"items", "next_cursor"}
    assert [j["id"] for j in json.loads(run("jobs", "list").output)["items"]] == [queued.id]
    alerts = CliRunner().invoke(main, ["alerts", "list", "--app", "tests.fixtures.cli_target:app"])
    assert json.loads(alerts.output) == {"items": [], "next_cursor": None}
