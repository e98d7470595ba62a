"""Pipeline endpoint: a chain, group or chord as one."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from monitor.api.auth import READ
from monitor.api.errors import bad_input
from monitor.api.schemas import PipelineOut
from monitor.context import current_context
from monitor.extensions import auth
from regiq_tasks import api
from regiq_tasks.errors import JobNotFound

bp = APIBlueprint("pipelines", __name__, tag="Pipelines")


@bp.get("/status/pipelines/<pipeline_id>")
@bp.auth_required(auth, roles=READ)
@bp.output(PipelineOut)
@bp.doc(summary="One pipeline", description="Its jobs (oldest first), counts and progress.",
        responses=[400, 403, 404, 503])
def get_pipeline(pipeline_id: str) -> dict[str, Any]:
    """A pipeline's jobs and aggregate progress."""
    with bad_input("pipeline_id"):
        pipeline = api.get_pipeline(pipeline_id, app=current_context().celery_app)
    if pipeline is None:
        raise JobNotFound(pipeline_id)
    return pipeline
