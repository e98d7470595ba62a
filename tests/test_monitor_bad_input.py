"""Bad input is a 400 (or 404) in the JSON error shape: never a 500, never a 503.

NUL bytes are the sharp case: Redis keeps them, PostgreSQL text refuses them, so without
validation they reached the database and came back as "database unreachable". The
cases run against a PostgreSQL history for that reason.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from celery import Celery

from regiq_tasks import get_history
from regiq_tasks.errors import InvalidParameter
from regiq_tasks.history import upgrade
from tests.fixtures.monitor import Monitor

HUGE = "9" * 40  # a number no datetime or BIGINT holds


def cursor_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.fixture
def pg_monitor(make_app: Callable[..., Celery], postgresql_url: str) -> Monitor:
    upgrade(postgresql_url)  # as a worker's start or `regiq db upgrade` leaves it
    return Monitor(make_app(database_url=postgresql_url))


@pytest.fixture
def monitor(app: Celery) -> Monitor:
    return Monitor(app)


def assert_400_naming(response: Any, name: str) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "details"}
    details = error["details"]
    assert name in details or name in details.get("query", {}) \
        or name in details.get("json", {}), error


def test_a_long_pipeline_id_is_400_naming_pipeline_id(monitor: Monitor) -> None:
    assert_400_naming(monitor.get(f"/status/pipelines/{'p' * 300}"), "pipeline_id")
    assert monitor.get(f"/status/pipelines/{'p' * 300}", role=None).status_code == 401


@pytest.mark.parametrize("path", ["/status/jobs", "/status/jobs/history"])
def test_a_cursor_holding_a_huge_number_is_400(monitor: Monitor, path: str) -> None:
    for text in (f"{HUGE}:job", f"{10**18}:job", "12:a\x00b", f"12:{'x' * 300}"):
        assert_400_naming(monitor.get(path, query={"cursor": cursor_of(text)}), "cursor")


def test_the_python_api_refuses_a_huge_cursor_with_a_named_value_error(app: Celery) -> None:
    with pytest.raises(InvalidParameter, match="^cursor: ") as caught:
        get_history(cursor=cursor_of(f"{HUGE}:job"), app=app)
    assert isinstance(caught.value, ValueError) and caught.value.parameter == "cursor"


def test_an_alert_cursor_holding_a_huge_number_is_400(monitor: Monitor) -> None:
    for number in (HUGE, str(2**63)):
        response = monitor.get("/alerts", query={"cursor": cursor_of(f"alert:{number}")})
        assert_400_naming(response, "cursor")


@pytest.mark.parametrize("depth", [33, 5000])
def test_a_deeply_nested_body_is_400_after_auth(monitor: Monitor, app: Celery,
                                                depth: int) -> None:
    job = app.tasks["t.add"].delay(1, 2)
    body = '{"reason": ' + "[" * depth + "]" * depth + "}"
    for path in (f"/status/jobs/{job.id}/cancel", f"/status/jobs/{job.id}/progress",
                 "/alerts/1/resolve"):
        def put(role: str | None, path: str = path) -> Any:
            return monitor.client.put(path, data=body, content_type="application/json",
                                      headers=monitor.headers(role))
        assert put(None).status_code == 401
        assert put("viewer").status_code == 403
        assert_400_naming(put("operator"), "json")


def test_a_nul_byte_in_an_id_is_400_not_a_database_outage(pg_monitor: Monitor) -> None:
    for path in ("/status/jobs/a%00b", "/status/pipelines/a%00b"):
        response = pg_monitor.get(path)
        assert response.status_code == 400, response.get_data(as_text=True)
        assert response.get_json()["error"]["code"] == "bad_request"
    for path in ("/status/jobs/a%00b/cancel", "/status/jobs/a%00b/progress"):
        assert pg_monitor.put(path, {"reason": "r", "current": 1}).status_code == 400


@pytest.mark.parametrize("path, query, name", [
    ("/status/jobs/history", {"type": "a\x00"}, "type"),
    ("/status/jobs/history", {"name": "t.\x00add"}, "name"),
    ("/status/jobs/history", {"worker": "\x00"}, "worker"),
    ("/status/jobs/history", {"pipeline_id": "p\x00"}, "pipeline_id"),
    ("/status/jobs/history", {"cursor": "\x00"}, "cursor"),
    ("/status/jobs/history", {"cursor": cursor_of("12:a\x00")}, "cursor"),
    ("/status/jobs", {"type": "a\x00"}, "type"),
    ("/alerts", {"rule": "job_failed\x00"}, "rule"),
    ("/alerts", {"cursor": cursor_of("alert:1\x00")}, "cursor"),
])
def test_a_nul_byte_in_a_filter_or_cursor_is_400(pg_monitor: Monitor, path: str,
                                                 query: dict[str, str], name: str) -> None:
    assert_400_naming(pg_monitor.get(path, query=query), name)


def test_nul_bytes_in_body_text_are_400(pg_monitor: Monitor, app: Celery) -> None:
    job = app.tasks["t.add"].delay(1, 2)
    assert pg_monitor.put(f"/status/jobs/{job.id}/cancel",
                          {"reason": "stop\x00"}).status_code == 400
    assert pg_monitor.put(f"/status/jobs/{job.id}/progress",
                          {"current": 1, "message": "m\x00"}).status_code == 400
    assert pg_monitor.put("/alerts/1/resolve", {"note": "n\x00"}).status_code == 400


@pytest.mark.parametrize("alert_id", [str(2**63), str(2**64), HUGE])
def test_an_alert_id_beyond_bigint_is_400(pg_monitor: Monitor, alert_id: str) -> None:
    assert_400_naming(pg_monitor.get(f"/alerts/{alert_id}"), "alert_id")
    assert_400_naming(pg_monitor.put(f"/alerts/{alert_id}/resolve", {"note": "n"}), "alert_id")
    assert pg_monitor.get(f"/alerts/{2**63 - 1}").status_code == 404


@pytest.mark.parametrize("raw", [
    '{"current": ' + "9" * 5000 + "}",  # past the 4,300-digit int conversion limit
    '{"current": 1, "total": ' + "9" * 400 + "}",  # too large for a float
    '{"current": 1, "message": "a\\ud800"}',  # a lone surrogate cannot be stored
    '{"current": 1, "\\u0000": 1}',
])
def test_numbers_and_text_no_store_can_hold_are_400(monitor: Monitor, app: Celery,
                                                   raw: str) -> None:
    job = app.tasks["t.add"].delay(1, 2)
    response = monitor.client.put(f"/status/jobs/{job.id}/progress", data=raw,
                                  content_type="application/json",
                                  headers=monitor.headers("operator"))
    assert_400_naming(response, "json")


def test_regiq_jobs_list_history_with_a_huge_cursor_is_one_clean_line(app: Celery) -> None:
    from click.testing import CliRunner

    from regiq_tasks.cli.main import main
    from tests.fixtures import cli_target

    cli_target.app = app
    try:
        result = CliRunner().invoke(main, ["jobs", "list", "--history", "--cursor",
                                           cursor_of(f"{HUGE}:job"), "--app",
                                           "tests.fixtures.cli_target:app"])
    finally:
        cli_target.app = None
    assert result.exit_code == 2, result.output
    assert "cursor" in result.output and "Traceback" not in result.output
    assert not isinstance(result.exception, OverflowError)
