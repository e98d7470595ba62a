"""The monitor app: factory, OpenAPI document, error shape, limits and outages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from celery import Celery
from openapi_spec_validator import validate

from regiq_tasks.errors import ConfigurationError
from regiq_tasks.monitor import create_app
from tests.fixtures.monitor import Monitor
from tests.fixtures.ports import free_port

IGNORED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture
def monitor(app: Celery) -> Monitor:
    return Monitor(app)


def test_healthz_answers_without_a_token_and_without_details(monitor: Monitor) -> None:
    response = monitor.client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_an_unknown_path_is_404_whatever_the_token(monitor: Monitor) -> None:
    for role in (None, "viewer", "admin"):
        response = monitor.get("/no-such-path", role=role)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"
    assert monitor.get("/status/jobs/x/nothing", role=None).status_code == 404


def test_the_openapi_document_needs_a_token_and_is_valid_openapi_3(monitor: Monitor) -> None:
    assert monitor.get("/openapi.json", role=None).status_code == 401
    spec = monitor.json("/openapi.json")
    assert spec["openapi"].startswith("3.")
    validate(spec)
    job = spec["components"]["schemas"]["JobOut"]["properties"]
    assert {"id", "name", "type", "status", "progress", "eta_seconds", "rate_per_s",
            "created_at", "started_at", "finished_at", "queue_wait_s", "duration_s", "worker",
            "queue", "retries", "pipeline_id", "root_id", "parent_id", "group_id", "error",
            "cancel", "resources", "args_preview", "metadata"} <= set(job)


def test_the_openapi_document_describes_exactly_the_routes_the_app_serves(
        monitor: Monitor) -> None:
    spec = monitor.json("/openapi.json")
    documented = {(path, method.upper()) for path, ops in spec["paths"].items()
                  for method in ops}
    served = {(re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule), method)
              for rule in monitor.app.url_map.iter_rules()
              for method in (rule.methods or set()) - IGNORED_METHODS}
    assert served == documented
    assert ("/status/jobs/{job_id}/cancel", "PUT") in served


def test_every_error_has_the_same_shape_and_a_fitting_status(monitor: Monitor) -> None:
    cases = [
        (monitor.get("/status/jobs", role=None), 401),
        (monitor.get("/status/jobs", token="wrong"), 401),
        (monitor.put("/status/jobs/x/cancel", {"reason": "r"}, role="viewer"), 403),
        (monitor.get("/status/jobs", query={"limit": "many"}), 400),
        (monitor.get("/status/jobs/unknown-id"), 404),
        (monitor.client.post("/status/jobs", headers=monitor.headers()), 405),
    ]
    for response, status in cases:
        assert response.status_code == status
        error = response.get_json()["error"]
        assert set(error) == {"code", "message", "details"}
        assert isinstance(error["code"], str) and error["message"]


@pytest.mark.parametrize("query, name", [
    ({"limit": 0}, "limit"), ({"limit": 501}, "limit"), ({"status": "done"}, "status"),
    ({"since": "yesterday"}, "since"), ({"until": "0001-01-01T00:00:00+01:00"}, "until"),
    ({"type": ""}, "type"), ({"worker": "w" * 300}, "worker"),
])
def test_bad_query_parameters_are_400_naming_the_parameter(monitor: Monitor,
                                                           query: dict[str, Any],
                                                           name: str) -> None:
    response = monitor.get("/status/jobs", query=query)
    assert response.status_code == 400
    assert name in response.get_json()["error"]["details"]["query"]


@pytest.mark.parametrize("query, name", [
    ({"cursor": "%%%"}, "cursor"),
    ({"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"}, "since"),
    ({"pipeline_id": "a", "root_id": "b"}, "pipeline_id"),
])
def test_inconsistent_queries_are_400_from_the_python_api(monitor: Monitor,
                                                          query: dict[str, Any],
                                                          name: str) -> None:
    for path in ("/status/jobs", "/status/jobs/history"):
        response = monitor.get(path, query=query)
        assert response.status_code == 400
        assert list(response.get_json()["error"]["details"]) == [name]


def test_a_body_over_the_limit_is_413_after_auth_and_before_existence(app: Celery) -> None:
    monitor = Monitor(app, REGIQ_MAX_BODY_BYTES=100)
    big = {"reason": "x" * 200}
    assert monitor.put("/status/jobs/unknown/cancel", big, role=None).status_code == 401
    assert monitor.put("/status/jobs/unknown/cancel", big, role="viewer").status_code == 403
    response = monitor.put("/status/jobs/unknown/cancel", big)
    assert response.status_code == 413
    assert response.get_json()["error"]["details"] == {"max_body_bytes": 100}
    assert monitor.put("/status/jobs/unknown/cancel", {"reason": "x"}).status_code == 404


def test_checks_run_in_order_token_role_validation_existence_state(monitor: Monitor,
                                                                   app: Celery,
                                                                   worker: Any) -> None:
    done = app.tasks["t.add"].delay(1, 2)
    done.get(timeout=10)
    path = f"/status/jobs/{done.id}/cancel"
    assert monitor.put(path, {}, role=None).status_code == 401
    assert monitor.put(path, {}, role="viewer").status_code == 403
    assert monitor.put("/status/jobs/unknown/cancel", {}).status_code == 400
    assert monitor.put("/status/jobs/unknown/cancel", {"reason": "r"}).status_code == 404
    assert monitor.put(path, {"reason": "r"}).status_code == 409


def test_malformed_json_and_wrong_types_are_400(monitor: Monitor, app: Celery) -> None:
    job = app.tasks["t.add"].delay(1, 2)
    path = f"/status/jobs/{job.id}/progress"
    raw = monitor.client.put(path, data="{not json", content_type="application/json",
                             headers=monitor.headers("operator"))
    assert raw.status_code == 400
    for body in ({"current": "three"}, {"current": -1}, {"current": 1, "total": 0},
                 {"current": 1, "extra": True}, [1, 2], {"current": 1e300}):
        assert monitor.put(path, body).status_code == 400, body
    assert monitor.put(f"/status/jobs/{job.id}/cancel", {"reason": "   "}).status_code == 400


@pytest.mark.parametrize("path", ["/status/jobs", "/status/jobs/history", "/alerts"])
def test_rest_and_python_api_share_the_time_range(monitor: Monitor, path: str) -> None:
    assert monitor.get(path, query={"since": "9500-01-01T00:00:00Z"}).status_code == 200
    response = monitor.get(path, query={"since": "1969-12-31T23:59:59Z"})
    assert response.status_code == 400
    assert "since" in response.get_json()["error"]["details"]["query"]


def test_an_unreachable_redis_is_503(make_app: Any) -> None:
    app = make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_timeout=0.5)
    monitor = Monitor(app)
    response = monitor.get("/status/jobs")
    assert response.status_code == 503
    assert response.get_json()["error"] == {
        "code": "unavailable", "message": "live store (Redis) unreachable", "details": None}
    assert monitor.get("/status/jobs/some-id").status_code == 503
    assert monitor.client.get("/healthz").status_code == 200


def test_an_unreachable_database_is_503_for_history(make_app: Any) -> None:
    port = free_port()
    app = make_app(database_url=f"postgresql://nobody@127.0.0.1:{port}/none",
                   auto_migrate=False)
    response = Monitor(app).get("/status/jobs/history")
    assert response.status_code == 503


def test_regiq_celery_app_finds_a_named_app_as_the_cli_does(app: Celery,
                                                            monkeypatch: Any) -> None:
    from tests.fixtures import cli_target

    monkeypatch.setattr(cli_target, "app", app)
    flask_app = create_app({"REGIQ_CELERY_APP": "tests.fixtures.cli_target:app"})
    assert flask_app.extensions["regiq_monitor"].celery_app is app


def test_a_bad_token_configuration_fails_at_create_app(app: Celery) -> None:
    with pytest.raises(ConfigurationError, match="REGIQ_API_TOKENS"):
        create_app({"REGIQ_CELERY_APP": app, "REGIQ_API_TOKENS": "superuser:x"})
    with pytest.raises(ConfigurationError, match="REGIQ_MAX_BODY_BYTES"):
        create_app({"REGIQ_CELERY_APP": app, "REGIQ_MAX_BODY_BYTES": 0})


def test_the_socketio_extension_is_bound_in_threading_mode(monitor: Monitor) -> None:
    from regiq_tasks.monitor import socketio

    assert socketio.server is not None and socketio.async_mode == "threading"
    assert "socketio" in monitor.app.extensions
