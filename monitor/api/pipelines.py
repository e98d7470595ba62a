"""Pipeline endpoint: a chain, group or chord as one."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from regiq_tasks import api
from regiq_tasks.errors import JobNotFound
from regiq_tasks.monitor.api.auth import READ
from regiq_tasks.monitor.api.errors import bad_input
from regiq_tasks.monitor.api.schemas import PipelineOut
from regiq_tasks.monitor.context import current_context
from regiq_tasks.monitor.extensions import auth

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
