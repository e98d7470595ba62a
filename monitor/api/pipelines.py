"""Pipeline endpoints: a chain, group or chord as one, and its cancel."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from regiq_tasks import api
from regiq_tasks.cancel.request import cancel_pipeline
from regiq_tasks.errors import JobNotFound
from regiq_tasks.monitor.api.auth import READ, WRITE, principal_name
from regiq_tasks.monitor.api.errors import bad_input, limit_body
from regiq_tasks.monitor.api.pipeline_schemas import PipelineOut
from regiq_tasks.monitor.api.schemas import CancelIn
from regiq_tasks.monitor.context import current_context
from regiq_tasks.monitor.extensions import auth

bp = APIBlueprint("pipelines", __name__, tag="Pipelines")


@bp.get("/status/pipelines/<pipeline_id>")
@bp.auth_required(auth, roles=READ)
@bp.output(PipelineOut)
@bp.doc(summary="One pipeline",
        description="Every planned step (steps not yet published as `pending` with a null "
                    "id), counts, progress over all of them and the graph.",
        responses=[400, 403, 404, 503])
def get_pipeline(pipeline_id: str) -> dict[str, Any]:
    """A pipeline's steps, aggregate progress and graph."""
    with bad_input("pipeline_id"):
        pipeline = api.get_pipeline(pipeline_id, app=current_context().celery_app)
    if pipeline is None:
        raise JobNotFound(pipeline_id)
    return pipeline


@bp.put("/status/pipelines/<pipeline_id>/cancel")
@bp.auth_required(auth, roles=WRITE)
@limit_body
@bp.input(CancelIn, arg_name="body")
@bp.output(PipelineOut, status_code=202)
@bp.doc(summary="Cancel a pipeline",
        description="Cancel every unfinished job of the pipeline and the jobs it would "
                    "publish later (later links of a chain); 202 with the pipeline. Jobs "
                    "that already ended keep their outcome.",
        responses=[400, 403, 404, 413, 503])
def put_cancel(pipeline_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Cancel a pipeline on behalf of the token's name."""
    with bad_input("pipeline_id", *CancelIn().fields):
        return cancel_pipeline(pipeline_id, body["reason"], principal_name(),
                               body["terminate"], app=current_context().celery_app)
