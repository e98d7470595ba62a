"""``regiq token`` commands and ``regiq monitor`` served as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from celery import Celery
from click.testing import CliRunner

from regiq_tasks.cli.main import main
from tests.fixtures.ports import free_port
from tests.fixtures.services import ROOT
from tests.fixtures.waiting import wait_for


def test_token_create_prints_the_token_once_and_list_and_revoke_manage_it(
        tmp_path: Path) -> None:
    db = ["--database-url", f"sqlite:///{tmp_path / 'h.db'}"]
    runner = CliRunner()
    created = runner.invoke(main, ["token", "create", "--role", "operator", "--name", "ci", *db])
    assert created.exit_code == 0, created.output
    secret = created.output.strip().splitlines()[-1]
    assert secret.startswith("rq_")
    listed = runner.invoke(main, ["token", "list", *db])
    tokens = json.loads(listed.output)
    assert [(t["id"], t["name"], t["role"], t["revoked_at"]) for t in tokens] == \
        [(1, "ci", "operator", None)]
    assert secret not in listed.output
    revoked = runner.invoke(main, ["token", "revoke", "1", *db])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert json.loads(runner.invoke(main, ["token", "list", *db]).output)[0]["revoked_at"]
    again = runner.invoke(main, ["token", "revoke", "1", *db])
    assert again.exit_code == 1 and "no active token with id 1" in again.output


def test_token_create_refuses_an_unknown_role(tmp_path: Path) -> None:
    out = CliRunner().invoke(main, ["token", "create", "--role", "root", "--name", "x",
                                    "--database-url", f"sqlite:///{tmp_path / 'h.db'}"])
    assert out.exit_code == 2 and "root" in out.output and "Traceback" not in out.output


@pytest.fixture
def served(app: Celery, prefix: str, redis_url: str, sqlite_url: str,
           tmp_path: Path) -> Iterator[str]:
    """``regiq monitor`` as a subprocess serving the test app; yields its base URL."""
    port = free_port()
    env = {**os.environ, "REGIQ_TEST_PREFIX": prefix, "REGIQ_TEST_REDIS_URL": redis_url,
           "REGIQ_TEST_DATABASE_URL": sqlite_url, "REGIQ_API_TOKENS": "viewer:served-secret-0001",
           "PYTHONPATH": str(ROOT)}
    log = (tmp_path / "monitor.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "regiq_tasks.cli", "monitor", "--host", "127.0.0.1",
         "--port", str(port), "--app", "tests.fixtures.worker_app:app"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError((tmp_path / "monitor.log").read_text())
        try:
            return requests.get(f"{base}/healthz", timeout=1).ok
        except requests.ConnectionError:
            return False

    try:
        wait_for(up, 30, "regiq monitor to answer /healthz")
        yield base
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def test_regiq_monitor_serves_the_api_over_http(served: str, app: Celery) -> None:
    job = app.tasks["t.add"].delay(1, 2)
    auth: dict[str, Any] = {"Authorization": "Bearer served-secret-0001"}
    url = f"{served}/status/jobs/{job.id}"
    # the publish is written by this process's background writer: wait until it landed
    response = wait_for(lambda: (r := requests.get(url, headers=auth, timeout=5)).ok and r,
                        10, "the queued job visible through HTTP")
    assert response.json()["status"] == "queued"
    assert requests.get(f"{served}/status/jobs", timeout=5).status_code == 401
    assert requests.get(f"{served}/openapi.json", headers=auth, timeout=5).json()["paths"]
