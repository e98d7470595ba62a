"""``GET /metrics``: the Prometheus exposition (a viewer token, like every data endpoint)."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import Response as FlaskResponse
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from regiq_tasks.metrics.prometheus import render
from regiq_tasks.monitor.api.auth import READ
from regiq_tasks.monitor.context import current_context
from regiq_tasks.monitor.extensions import auth

bp = APIBlueprint("prometheus", __name__, tag="Prometheus")

OpenAPIResponse = dict[str, str | dict[str, dict[str, Any]]]
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}
RESPONSES: dict[int | str, OpenAPIResponse] = {
    200: {"description": "Prometheus text exposition format 0.0.4 (see "
                         "regiq_tasks.metrics.prometheus for the families)",
          "content": {"text/plain": {"schema": {"type": "string"}}}},
    403: {"description": "Role too low", "content": _ERROR},
    503: {"description": "Redis unreachable", "content": _ERROR}}


@bp.get("/metrics")
@bp.auth_required(auth, roles=READ)
@bp.doc(summary="Prometheus metrics",
        description="Read from Redis and SQL at scrape time: every monitor process answers "
                    "the same. Prometheus sends the token with `authorization: "
                    "{credentials: <token>}` in its scrape config.",
        responses=RESPONSES)
def metrics() -> FlaskResponse:
    """The regiq metrics in Prometheus' text format."""
    return FlaskResponse(render(current_context().celery_app), mimetype=None,
                         content_type=CONTENT_TYPE_PLAIN_0_0_4)
