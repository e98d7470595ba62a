"""Property-based run of schemathesis against /openapi.json, in-process through WSGI.

Each operation gets at most 25 generated requests (valid and invalid ones); none may
answer 5xx or a response that breaks its documented schema.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from celery import Celery
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from regiq_tasks import get_job
from tests.fixtures.monitor import Monitor
from tests.fixtures.waiting import wait_for

ADMIN = Monitor.headers("admin")


@pytest.fixture
def api_schema(app: Celery, worker: Any) -> Any:
    """The monitor's schema loaded from its own /openapi.json, with real jobs behind it."""
    ok = app.tasks["t.add"].delay(1, 2)
    bad = app.tasks["t.fail"].delay()
    app.tasks["t.count"].delay(3)
    ok.get(timeout=10)
    wait_for(lambda: (get_job(bad.id, app=app) or {}).get("status") == "failed", 10, "failed")
    monitor = Monitor(app)
    return schemathesis.openapi.from_wsgi("/openapi.json", monitor.app, headers=ADMIN)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_no_input_gives_a_server_error_or_an_undocumented_response(case: Any) -> None:
    case.call_and_validate(headers=ADMIN,
                           checks=[not_a_server_error, response_schema_conformance])
