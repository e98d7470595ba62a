"""Alert endpoints: list, one alert, resolve, statistics."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from regiq_tasks.alerts import service
from regiq_tasks.monitor.api.alert_schemas import (
    AlertListQuery,
    AlertOut,
    AlertPage,
    AlertStatisticsOut,
    ResolveIn,
)
from regiq_tasks.monitor.api.auth import READ, WRITE, principal_name
from regiq_tasks.monitor.api.errors import bad_input, limit_body
from regiq_tasks.monitor.context import current_context
from regiq_tasks.monitor.extensions import auth

bp = APIBlueprint("alerts", __name__, tag="Alerts")


@bp.get("/alerts/statistics")
@bp.auth_required(auth, roles=READ)
@bp.output(AlertStatisticsOut)
@bp.doc(summary="Alert statistics",
        description="Counts (alert rows and summed occurrences) by severity, status and "
                    "rule; open now; mean and p95 seconds to resolve.",
        responses=[403, 503])
def statistics() -> dict[str, Any]:
    """Counts and time to resolve."""
    return service.alert_statistics(app=current_context().celery_app)


@bp.get("/alerts/<alert_id>")
@bp.auth_required(auth, roles=READ)
@bp.output(AlertOut)
@bp.doc(summary="One alert", responses=[400, 403, 404, 503])
def get_alert(alert_id: str) -> dict[str, Any]:
    """One alert's record."""
    with bad_input("alert_id"):
        return service.get_alert(alert_id, app=current_context().celery_app)


@bp.get("/alerts")
@bp.auth_required(auth, roles=READ)
@bp.input(AlertListQuery, location="query", arg_name="query")
@bp.output(AlertPage)
@bp.doc(summary="List alerts", description="Newest first; keyset-paginated.",
        responses=[400, 403, 503])
def list_alerts(query: dict[str, Any]) -> dict[str, Any]:
    """Alerts matching the filters."""
    with bad_input(*AlertListQuery().fields):
        return service.list_alerts(app=current_context().celery_app, **query)


@bp.put("/alerts/<alert_id>/resolve")
@bp.auth_required(auth, roles=WRITE)
@limit_body
@bp.input(ResolveIn, arg_name="body")
@bp.output(AlertOut)
@bp.doc(summary="Resolve an alert",
        description="Records who (the token's name) and when; 409 if already resolved.",
        responses=[400, 403, 404, 409, 413, 503])
def resolve(alert_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Resolve an open alert with a note."""
    with bad_input("alert_id", "note"):
        return service.resolve_alert(alert_id, body["note"], principal_name(),
                                     app=current_context().celery_app)
