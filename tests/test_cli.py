"""The ``regiq`` command: jobs list/show/cancel, db upgrade; clear errors, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from celery import Celery
from click.testing import CliRunner

from regiq_tasks.cli import main
from regiq_tasks.history.db import head_revision
from tests import cli_target


@pytest.fixture
def run(app: Celery) -> Any:
    cli_target.app = app
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(main, [*args, "--app", "tests.cli_target:app"]
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
