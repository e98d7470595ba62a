"""Readers never create the history database: the CLI, the monitor and the Python API.

A worker (its archiver) or ``regiq db upgrade`` creates and migrates the database. A
reader pointed at a database that is not there (a typo in ``REGIQ_DATABASE_URL``) says so
and exits non-zero, instead of creating an empty one and answering an empty history;
an unusable URL names what is missing, without a traceback.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from click.testing import CliRunner

from regiq_tasks import get_history, get_job
from regiq_tasks.cli.main import main
from regiq_tasks.errors import ConfigurationError, HistoryNotFound
from regiq_tasks.history.db import upgrade
from regiq_tasks.monitor import create_app
from tests.fixtures import cli_target
from tests.fixtures.monitor import Monitor
from tests.fixtures.services import ROOT

MYSQL_URL = "mysql://regiq@127.0.0.1:3306/regiq"  # mysqlclient (MySQLdb) is not installed


@pytest.fixture
def missing(tmp_path: Path) -> Path:
    """A database file in a folder that does not exist."""
    return tmp_path / "typo" / "history.db"


@pytest.fixture
def cli(make_app: Any) -> Any:
    """Run ``regiq`` in-process against a test app with the given database URL."""
    runner = CliRunner()

    def invoke(database_url: str, *args: str) -> Any:
        cli_target.app = make_app(database_url=database_url)
        try:
            return runner.invoke(main, [*args, "--app", "tests.fixtures.cli_target:app"])
        finally:
            cli_target.app = None
    return invoke


@pytest.mark.parametrize("args", [("jobs", "list", "--history"), ("alerts", "list"),
                                  ("jobs", "show", "some-id"), ("alerts", "show", "1")])
def test_a_read_only_command_on_a_missing_database_fails_clearly_and_creates_nothing(
        cli: Any, missing: Path, args: tuple[str, ...]) -> None:
    out = cli(f"sqlite:///{missing}", *args)
    assert out.exit_code == 1, out.output
    assert f"history database not found: sqlite:///{missing} does not exist" in out.output
    assert "regiq db upgrade" in out.output and "Traceback" not in out.output
    assert not missing.parent.exists()


def test_a_typo_in_regiq_database_url_is_an_error_of_the_installed_command(
        tmp_path: Path, missing: Path) -> None:
    # the bundled app, configured by the environment, as an operator runs it
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("REGIQ_")},
           "PYTHONPATH": str(ROOT), "REGIQ_DATABASE_URL": f"sqlite:///{missing}"}
    out = subprocess.run([sys.executable, "-m", "regiq_tasks.cli", "jobs", "list", "--history"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
                         check=False)
    assert out.returncode == 1, out
    assert "does not exist" in out.stderr and "Traceback" not in out.stderr
    assert out.stdout == ""
    assert not missing.parent.exists()


def test_a_database_without_the_regiq_schema_is_not_migrated_by_a_reader(
        make_app: Any, tmp_path: Path) -> None:
    empty = tmp_path / "other.db"
    empty.touch()
    app = make_app(database_url=f"sqlite:///{empty}")
    with pytest.raises(HistoryNotFound, match="has no regiq schema"):
        get_history(app=app)
    with sqlite3.connect(empty) as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == []


@pytest.mark.parametrize("args", [("jobs", "list", "--history"), ("alerts", "list")])
def test_a_database_url_without_its_driver_names_the_missing_driver(
        cli: Any, args: tuple[str, ...]) -> None:
    out = cli(MYSQL_URL, *args)
    assert out.exit_code == 1, out.output
    assert "mysql:// needs the Python driver 'MySQLdb'" in out.output
    assert "pip install mysqlclient" in out.output and "Traceback" not in out.output


def test_db_upgrade_and_current_tell_a_missing_driver_and_current_creates_nothing(
        missing: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(main, ["db", "upgrade", "--database-url", MYSQL_URL])
    assert out.exit_code == 1 and "'MySQLdb'" in out.output and "Traceback" not in out.output
    current = runner.invoke(main, ["db", "current", "--database-url", f"sqlite:///{missing}"])
    assert current.exit_code == 0 and current.output.strip() == "(empty)"
    assert not missing.parent.exists()


def test_the_monitor_starts_without_creating_the_database_and_serves_it_once_created(
        make_app: Any, missing: Path) -> None:
    # Given a monitor started before any worker created the history database
    url = f"sqlite:///{missing}"
    monitor = Monitor(make_app(database_url=url))
    # Then the live API works, the history and alerts say why they cannot answer
    assert monitor.client.get("/healthz").status_code == 200
    assert monitor.json("/status/jobs")["items"] == []
    for path in ("/status/jobs/history", "/alerts"):
        response = monitor.get(path)
        assert response.status_code == 503
        assert response.get_json()["error"]["message"] == "history database not found"
    assert not missing.parent.exists()
    # When a worker (here: regiq db upgrade) creates it, the same monitor reads it
    upgrade(url)
    assert monitor.json("/status/jobs/history")["items"] == []
    assert monitor.json("/alerts")["items"] == []


def test_the_monitor_refuses_to_start_on_a_database_url_without_its_driver(
        make_app: Any) -> None:
    with pytest.raises(ConfigurationError, match="needs the Python driver 'MySQLdb'"):
        create_app({"REGIQ_CELERY_APP": make_app(database_url=MYSQL_URL)})


def test_the_python_api_raises_history_not_found_and_creates_nothing(
        make_app: Any, missing: Path) -> None:
    app: Celery = make_app(database_url=f"sqlite:///{missing}")
    with pytest.raises(HistoryNotFound, match="does not exist"):
        get_history(app=app)
    with pytest.raises(HistoryNotFound):
        get_job("unknown-id", app=app)
    assert not missing.parent.exists()
