"""Limits and hardening answered in the JSON error shape: body and header sizes,
``Cache-Control: no-store``, the token length rule and the page's CSP."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import pytest
import requests
from celery import Celery

from regiq_tasks.errors import ConfigurationError
from regiq_tasks.monitor import create_app
from tests.fixtures.live import ServedMonitor
from tests.fixtures.monitor import TOKENS, Monitor

Serve = Callable[..., ServedMonitor]


def assert_error_shape(response: requests.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:300]
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"} and error["code"] == code


def test_a_chunked_body_over_the_limit_is_413_after_auth(app: Celery) -> None:
    monitor = Monitor(app, REGIQ_MAX_BODY_BYTES=100)
    job = app.tasks["t.add"].delay(1, 2)
    body = b'{"reason": "' + b"x" * 500 + b'"}'

    def put(role: str) -> int:  # no Content-Length: the server reads until the stream ends
        response = monitor.client.put(
            f"/status/jobs/{job.id}/cancel", input_stream=io.BytesIO(body),
            content_type="application/json", headers=monitor.headers(role),
            environ_overrides={"wsgi.input_terminated": True})
        if response.status_code == 413:
            assert response.get_json()["error"]["details"] == {"max_body_bytes": 100}
        return response.status_code

    assert put("viewer") == 403
    assert put("operator") == 413


@pytest.fixture
def served(served_monitor: Serve) -> ServedMonitor:
    return served_monitor(REGIQ_MAX_BODY_BYTES=1000)


def _chunks(total: int) -> Iterator[bytes]:
    yield b'{"reason": "'
    for _ in range(total // 100):
        yield b"x" * 100
    yield b'"}'


def test_the_served_monitor_answers_a_chunked_body_over_the_limit_with_413(
        served: ServedMonitor, app: Celery) -> None:
    job = app.tasks["t.add"].delay(1, 2)
    response = requests.put(f"{served.url}/status/jobs/{job.id}/cancel", data=_chunks(5000),
                            headers={"Authorization": f"Bearer {TOKENS['operator']}",
                                     "Content-Type": "application/json"}, timeout=10)
    assert_error_shape(response, 413, "payload_too_large")


def test_a_100_kb_authorization_header_gets_a_json_431(served: ServedMonitor) -> None:
    response = requests.get(f"{served.url}/status/jobs", timeout=10,
                            headers={"Authorization": "Bearer " + "x" * 100_000})
    assert_error_shape(response, 431, "request_header_fields_too_large")
    assert response.headers["Cache-Control"] == "no-store"
    ok = requests.get(f"{served.url}/status/jobs", timeout=10,
                      headers={"Authorization": f"Bearer {TOKENS['viewer']}"})
    assert ok.status_code == 200


def test_a_long_but_acceptable_header_is_401_in_the_json_shape(served: ServedMonitor) -> None:
    response = requests.get(f"{served.url}/status/jobs", timeout=10,
                            headers={"Authorization": "Bearer " + "x" * 60_000})
    assert_error_shape(response, 401, "unauthorized")


def test_api_answers_are_never_cached_and_the_page_keeps_its_asset_cache(app: Celery) -> None:
    monitor = Monitor(app)
    for response in (monitor.get("/status/jobs"), monitor.get("/status/jobs", role=None),
                     monitor.get("/status/jobs/unknown"), monitor.get("/openapi.json"),
                     monitor.client.get("/healthz"), monitor.get("/no-such-path")):
        assert response.headers["Cache-Control"] == "no-store", response.request.path
    asset = monitor.client.get("/static/style.css")
    assert asset.status_code == 200 and "no-store" not in asset.headers["Cache-Control"]


def test_the_page_may_connect_only_to_its_own_origin(app: Celery) -> None:
    policy = Monitor(app).client.get("/").headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["connect-src"] == "'self'"


@pytest.mark.parametrize("spec", ["viewer:short", "viewer:" + "x" * 15,
                                  "operator:" + "y" * 20 + ",viewer:abc"])
def test_a_token_under_16_characters_is_a_configuration_error(app: Celery, spec: str) -> None:
    with pytest.raises(ConfigurationError, match="REGIQ_API_TOKENS.*at least|16") as caught:
        create_app({"REGIQ_CELERY_APP": app, "REGIQ_API_TOKENS": spec})
    assert "short" not in str(caught.value) and "abc" not in str(caught.value)
    assert create_app({"REGIQ_CELERY_APP": app, "REGIQ_API_TOKENS": "viewer:" + "x" * 16})


@pytest.mark.parametrize("query", ["EIO=4&transport=bogus", "EIO=4&transport=polling&sid=nope",
                                   "EIO=9&transport=polling", ""])
def test_socketio_transport_errors_are_in_the_json_shape(app: Celery, query: str) -> None:
    response = Monitor(app).client.get(f"/socket.io/?{query}")
    assert response.status_code == 400
    assert response.content_type == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == "bad_request" and error["message"]
