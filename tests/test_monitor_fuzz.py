"""Fuzzing every REST operation: no input gives a 5xx, every error is the JSON shape.

Two passes, in-process through WSGI, against real Redis and a PostgreSQL history (where
a NUL byte that slips past validation comes back as a 503 "database unreachable"):

1. schemathesis generates valid and invalid requests for every operation of
   ``/openapi.json``; hooks swap NUL bytes, huge integers and nested arrays into the
   generated path parameters, queries and bodies. ``REGIQ_FUZZ_EXAMPLES`` sets the
   examples per operation (default 25; the benchmark run in docs/benchmarks.md uses more).
2. a table of hostile values goes, one at a time, into every path parameter, query
   parameter and body field of every operation (raw JSON text, so 5,000-digit numbers
   and 5,000-deep nesting reach the server as sent).

Run with ``-s`` to see how many cases ran.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from celery import Celery
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.hooks import HookDispatcher
from schemathesis.specs.openapi.checks import response_schema_conformance

from regiq_tasks import get_job
from regiq_tasks.history import upgrade
from regiq_tasks.resources.sampler import start_sampler, stop_sampler
from regiq_tasks.resources.workers import all_workers
from tests.fixtures.monitor import Monitor
from tests.fixtures.services import thread_worker
from tests.fixtures.waiting import wait_for

ADMIN = Monitor.headers("admin")
EXAMPLES = int(os.environ.get("REGIQ_FUZZ_EXAMPLES", "25"))
TALLY: Counter[str] = Counter()
# Text put into path and query parameters.
HOSTILE_TEXT = ["a\x00b", "\x00", "9" * 5000, str(2**63), str(-(2**63) - 1), "1e400", "-1",
                "NaN", "", " ", "x" * 300, "../../etc/passwd", "%00", "\u202e\ufeff"]
# Raw JSON text put into body fields.
HOSTILE_JSON = ["9" * 5000, "-" + "9" * 400, "1e400", str(2**63), '"\\u0000"', '"a\\ud800"',
                "[" * 5000 + "]" * 5000, '{"a": ' * 40 + "1" + "}" * 40, "null", "true",
                '"' + "x" * 70_000 + '"', "[" + ",".join(["1"] * 1000) + "]", '{"\\u0000": 1}']


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    """Print the tally of this module's cases (seen with ``pytest -s``)."""
    yield
    print(f"\nfuzz: {sum(TALLY[k] for k in ('schemathesis', 'hostile'))} cases "
          f"({TALLY['schemathesis']} generated, {TALLY['hostile']} from the hostile table, "
          f"{TALLY['injected']} generated with a hostile value); "
          f"5xx: {TALLY['5xx']}, non-JSON errors: {TALLY['non_json']}")


@pytest.fixture
def pg_app(make_app: Callable[..., Celery], postgresql_url: str) -> Iterator[Celery]:
    """A test app on PostgreSQL with a worker, a succeeded, a failed and a queued job."""
    upgrade(postgresql_url)  # as a worker's start or `regiq db upgrade` leaves it
    app = make_app(database_url=postgresql_url)
    with thread_worker(app) as worker:
        start_sampler(app, worker.hostname)  # a live worker: health answers 200, not 503
        wait_for(lambda: all_workers(app), 10, "the worker's first sample")
        ok = app.tasks["t.add"].delay(1, 2)
        bad = app.tasks["t.fail"].delay()
        app.tasks["t.count"].delay(3)
        ok.get(timeout=10)
        wait_for(lambda: (get_job(bad.id, app=app) or {}).get("status") == "failed", 10,
                 "failed")
        try:
            yield app
        finally:
            stop_sampler(app)


@pytest.fixture
def api_schema(pg_app: Celery) -> Any:
    """The monitor's schema loaded from its own /openapi.json, with real jobs behind it."""
    return schemathesis.openapi.from_wsgi("/openapi.json", Monitor(pg_app).app, headers=ADMIN)


# -- pass 1: schemathesis, with hostile values mixed in -----------------------------------

def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


HOSTILE_BODY = ["\x00", "a\x00b", 2**63, -(2**64), 10**400, 1e308, _nested(60), {"\x00": 1}]


def _swap_one(container: dict[str, Any] | None, values: list[Any]) -> st.SearchStrategy[Any]:
    """The container as generated, or with one of its keys set to a hostile value."""
    if not container:
        return st.just(container)
    swapped = st.builds(lambda key, value: {**container, key: value},
                        st.sampled_from(sorted(container)), st.sampled_from(values))
    return st.one_of(st.just(container), swapped)


def _carries_hostile(case: Any) -> bool:
    texts = [*(case.path_parameters or {}).values(), *(case.query or {}).values()]
    body = case.body if isinstance(case.body, dict) else {}
    return any(isinstance(v, str) and v in HOSTILE_TEXT for v in texts) or \
        any(any(v == h and type(v) is type(h) for h in HOSTILE_BODY) for v in body.values())


def flatmap_path_parameters(context: Any, path_parameters: Any) -> Any:
    return _swap_one(path_parameters, HOSTILE_TEXT)


def flatmap_query(context: Any, query: Any) -> Any:
    return _swap_one(query, HOSTILE_TEXT)


def flatmap_body(context: Any, body: Any) -> Any:
    return _swap_one(body, HOSTILE_BODY) if isinstance(body, dict) else st.just(body)


def with_hostile_values(test: Callable[..., None]) -> Callable[..., None]:
    """Register the hooks above on this test only."""
    dispatcher = HookDispatcher.add_dispatcher(test)
    for hook in (flatmap_path_parameters, flatmap_query, flatmap_body):
        dispatcher.register_hook_with_name(hook, hook.__name__)
    return test


@schemathesis.check
def error_in_json_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx/5xx answer is ``{"error": {"code", "message", "details"}}`` in JSON."""
    if response.status_code < 400:
        return None
    assert_json_error(response.status_code, response.headers.get("Content-Type") or
                      response.headers.get("content-type"), response.text)
    return True


def assert_json_error(status: int, content_type: Any, text: str) -> None:
    kind = content_type[0] if isinstance(content_type, list) else content_type or ""
    if status >= 500:
        TALLY["5xx"] += 1
    try:
        error = json.loads(text)["error"]
        shaped = kind.startswith("application/json") and set(error) == {
            "code", "message", "details"}
    except (ValueError, KeyError, TypeError):
        shaped = False
    if not shaped:
        TALLY["non_json"] += 1
    assert status < 500, f"{status}: {text[:300]}"
    assert shaped, f"not the JSON error shape ({kind}): {text[:300]}"


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much, HealthCheck.data_too_large])
@with_hostile_values
def test_no_input_gives_a_server_error_or_an_undocumented_response(case: Any) -> None:
    TALLY["schemathesis"] += 1
    TALLY["injected"] += _carries_hostile(case)
    case.call_and_validate(headers=ADMIN, checks=[not_a_server_error,
                                                  response_schema_conformance,
                                                  error_in_json_shape])


# -- pass 2: every hostile value in every parameter and body field ------------------------

def _slots(spec: dict[str, Any]) -> Iterator[tuple[str, str, str, str, dict[str, Any]]]:
    """(method, path, where, name, body) of every parameter and body field."""
    bodies = spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            body = _valid_body(op, bodies)
            for param in op.get("parameters", []):
                yield method, path, param["in"], param["name"], body
            for name in body:
                yield method, path, "body", name, body


def _valid_body(op: dict[str, Any], bodies: dict[str, Any]) -> dict[str, Any]:
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    if not content:
        return {}
    name = content["schema"]["$ref"].rsplit("/", 1)[-1]
    samples = {"current": 1, "total": 2, "message": "m", "reason": "r", "terminate": False,
               "note": "n"}
    return {field: samples.get(field, "x") for field in bodies[name]["properties"]}


def _request(monitor: Monitor, method: str, path: str, where: str, name: str,
             body: dict[str, Any], value: str, ids: dict[str, str]) -> Any:
    params = {**ids, name: value} if where == "path" else ids
    url = path.format(**{k: params.get(k, "x") for k in re.findall(r"{(\w+)}", path)})
    query = {name: value} if where == "query" else None
    raw = json.dumps(body)
    if where == "body":
        fields = [f"{json.dumps(k)}: {value if k == name else json.dumps(v)}"
                  for k, v in body.items()]
        raw = "{" + ", ".join(fields) + "}"
    return monitor.client.open(url, method=method.upper(), headers=ADMIN, query_string=query,
                               data=raw if method != "get" else None,
                               content_type="application/json" if method != "get" else None)


def test_hostile_values_in_every_parameter_and_field_are_answered_in_the_json_shape(
        pg_app: Celery) -> None:
    monitor = Monitor(pg_app)
    job_id = pg_app.tasks["t.count"].delay(1).id
    ids = {"job_id": job_id, "pipeline_id": job_id, "alert_id": "1", "filename": "style.css"}
    for method, path, where, name, body in _slots(monitor.json("/openapi.json")):
        for value in (HOSTILE_JSON if where == "body" else HOSTILE_TEXT):
            if where == "path" and value in ("", "../../etc/passwd"):
                continue  # another route, not this parameter
            response = _request(monitor, method, path, where, name, body, value, ids)
            TALLY["hostile"] += 1
            if response.status_code >= 400:
                assert_json_error(response.status_code, response.content_type,
                                  response.get_data(as_text=True))
