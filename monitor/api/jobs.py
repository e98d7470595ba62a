"""Job endpoints: one job, live listing, history listing, progress, cancel and retry."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from regiq_tasks import api
from regiq_tasks.cancel.request import cancel_job
from regiq_tasks.errors import JobNotFound
from regiq_tasks.monitor.api.auth import READ, WRITE, principal_name
from regiq_tasks.monitor.api.errors import bad_input, limit_body
from regiq_tasks.monitor.api.schemas import (
    CancelIn,
    HistoryQuery,
    JobListQuery,
    JobOut,
    JobPage,
    ProgressIn,
)
from regiq_tasks.monitor.context import current_context
from regiq_tasks.monitor.extensions import auth
from regiq_tasks.retry.request import retry_job
from regiq_tasks.tracking.external import report_progress

bp = APIBlueprint("jobs", __name__, tag="Jobs")
# One job's route comes first: apiflask then names the JobOut component before the
# listings nest it (the other order documents the same schema twice, as JobOut1).


@bp.get("/status/jobs/<job_id>")
@bp.auth_required(auth, roles=READ)
@bp.output(JobOut)
@bp.doc(summary="One job", description="From the live store, else from the history.",
        responses=[400, 403, 404, 503])
def get_job(job_id: str) -> dict[str, Any]:
    """One job's record."""
    with bad_input("job_id"):
        job = api.get_job(job_id, app=current_context().celery_app)
    if job is None:
        raise JobNotFound(job_id)
    return job


@bp.get("/status/jobs")
@bp.auth_required(auth, roles=READ)
@bp.input(JobListQuery, location="query", arg_name="query")
@bp.output(JobPage)
@bp.doc(summary="List live jobs", description="Newest first; keyset-paginated.",
        responses=[400, 403, 503])
def list_jobs(query: dict[str, Any]) -> dict[str, Any]:
    """Live jobs matching the filters."""
    with bad_input(*JobListQuery().fields):
        return api.list_jobs(app=current_context().celery_app, **query)


@bp.get("/status/jobs/history")
@bp.auth_required(auth, roles=READ)
@bp.input(HistoryQuery, location="query", arg_name="query")
@bp.output(JobPage)
@bp.doc(summary="List archived jobs", description="From the SQL history, newest first.",
        responses=[400, 403, 503])
def list_history(query: dict[str, Any]) -> dict[str, Any]:
    """Archived jobs matching the filters."""
    with bad_input(*HistoryQuery().fields):
        return api.get_history(app=current_context().celery_app, **query)


@bp.put("/status/jobs/<job_id>/progress")
@bp.auth_required(auth, roles=WRITE)
@limit_body
@bp.input(ProgressIn, arg_name="body")
@bp.output(JobOut)
@bp.doc(summary="Report progress from outside the task",
        responses=[400, 403, 404, 409, 413, 503])
def put_progress(job_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Set a live job's progress; 409 once the job is final."""
    with bad_input("job_id", *ProgressIn().fields):
        return report_progress(job_id, body["current"], body.get("total"),
                               body.get("message"), app=current_context().celery_app)


@bp.put("/status/jobs/<job_id>/cancel")
@bp.auth_required(auth, roles=WRITE)
@limit_body
@bp.input(CancelIn, arg_name="body")
@bp.output(JobOut, status_code=202)
@bp.doc(summary="Cancel a job",
        description="202 with the job, also when it was already cancelled; 409 when it "
                    "succeeded, failed or was lost.",
        responses=[400, 403, 404, 409, 413, 503])
def put_cancel(job_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Cancel a job on behalf of the token's name."""
    with bad_input("job_id", *CancelIn().fields):
        return cancel_job(job_id, body["reason"], principal_name(), body["terminate"],
                          app=current_context().celery_app)


@bp.put("/status/jobs/<job_id>/retry")
@bp.auth_required(auth, roles=WRITE)
@bp.output(JobOut, status_code=202)
@bp.doc(summary="Retry a job",
        description="Publish a failed, lost or cancelled job again as a new job (same task, "
                    "arguments, routing and chain); 202 with the new job, whose `retry_of` "
                    "names this one (this one gains `retried_as`). 409 for any other status, "
                    "a job retried already, or one whose message is no longer kept (kept "
                    "only while the job is in the live store, `REGIQ_LIVE_TTL`).",
        responses=[400, 403, 404, 409, 503])
def put_retry(job_id: str) -> dict[str, Any]:
    """Retry a job on behalf of the token's name."""
    with bad_input("job_id"):
        return retry_job(job_id, principal_name(), app=current_context().celery_app)
