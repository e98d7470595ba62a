"""Job log endpoint: a job's kept log lines, oldest first, live or archived alike."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, Schema, fields, validators

from regiq_tasks.job_logs import get_job_logs
from regiq_tasks.monitor.api.auth import READ
from regiq_tasks.monitor.api.errors import bad_input
from regiq_tasks.monitor.api.schemas import MAX_CURSOR
from regiq_tasks.monitor.context import current_context
from regiq_tasks.monitor.extensions import auth
from regiq_tasks.store.filters import DEFAULT_LIMIT, MAX_LIMIT

bp = APIBlueprint("logs", __name__, tag="Job logs")  # one blueprint per tag (OpenAPI)


class LogQuery(Schema):
    """Paging of ``GET /status/jobs/{job_id}/logs``."""

    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validators.Range(1, MAX_LIMIT))
    cursor = fields.String(validate=validators.Length(1, MAX_CURSOR),
                           metadata={"description": "next_cursor of the previous page"})


class LogLine(Schema):
    """One kept log line (secrets masked)."""

    at = fields.String(required=True, allow_none=True, metadata={"description": "ISO-8601 UTC"})
    level = fields.String(required=True)
    logger = fields.String(required=True)
    message = fields.String(required=True)


class LogPage(Schema):
    """One page of a job's log lines."""

    items = fields.List(fields.Nested(LogLine), required=True)
    next_cursor = fields.String(
        allow_none=True, required=True,
        metadata={"description": "null once the job ended and its last line was read; "
                                 "always set while it runs (more lines may come)"})
    dropped = fields.Integer(required=True,
                             metadata={"description": "earlier lines let go (the bounds)"})


@bp.get("/status/jobs/<job_id>/logs")
@bp.auth_required(auth, roles=READ)
@bp.input(LogQuery, location="query", arg_name="query")
@bp.output(LogPage)
@bp.doc(summary="A job's log lines",
        description="Oldest first; the last REGIQ_JOB_LOG_LINES lines and "
                    "REGIQ_JOB_LOG_BYTES bytes of the job are kept.",
        responses=[400, 403, 404, 503])
def get_logs(job_id: str, query: dict[str, Any]) -> dict[str, Any]:
    """One page of a job's kept log lines."""
    with bad_input("job_id", *LogQuery().fields):
        return get_job_logs(job_id, app=current_context().celery_app, **query)
