"""``GET /status/system/health``: every component of the tracking path, checked at once."""

from __future__ import annotations

from apiflask import APIBlueprint, Schema, fields
from flask import Response, jsonify

from regiq_tasks.health import get_health
from regiq_tasks.monitor.api.auth import READ
from regiq_tasks.monitor.api.schemas import _out_str, _time
from regiq_tasks.monitor.context import current_context
from regiq_tasks.monitor.extensions import auth

bp = APIBlueprint("health", __name__, tag="Health")
STATUSES = ("ok", "degraded", "down")


class HealthDocumentOut(Schema):
    status = _out_str(metadata={"enum": list(STATUSES)})
    at = _time()
    components = fields.Dict(
        keys=fields.String(), values=fields.Dict(), required=True, metadata={
            "description": "per component (redis, database, broker, archiver, alert_queue, "
                           "...): its `status` and the figures its check read"})
    reasons = fields.List(fields.String(), required=True, metadata={
        "description": "why the status is not ok, in words, each naming its component"})


@bp.get("/status/system/health")
@bp.auth_required(auth, roles=READ)
@bp.output(HealthDocumentOut)
@bp.doc(summary="Health of the tracking path",
        description="Redis, the history database, the broker, the archiver and the alert "
                    "queue, checked concurrently, each within `REGIQ_HEALTH_TIMEOUT` "
                    "(1.5 s). `ok` and `degraded` answer 200, `down` (Redis, the "
                    "database or the broker unreachable) 503 with the same document. "
                    "`/healthz` is the public liveness probe.",
        responses={503: "down: the same document", 403: "Role too low"})
def health() -> Response:
    """The health document of DESIGN.md (answered as built)."""
    doc = get_health(current_context().celery_app)
    response = jsonify(doc)
    response.status_code = 503 if doc["status"] == "down" else 200
    return response
