"""Worker endpoints: the workers with their latest resource sample; one with its recent
samples."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from regiq_tasks.monitor.api.auth import READ
from regiq_tasks.monitor.api.errors import bad_input
from regiq_tasks.monitor.api.worker_schemas import (
    WorkerDetail,
    WorkerListQuery,
    WorkerPage,
    WorkerQuery,
)
from regiq_tasks.monitor.context import current_context
from regiq_tasks.monitor.extensions import auth
from regiq_tasks.resources.workers import get_worker, list_workers

bp = APIBlueprint("workers", __name__, tag="Workers")


@bp.get("/status/workers/<name>")
@bp.auth_required(auth, roles=READ)
@bp.input(WorkerQuery, location="query", arg_name="query")
@bp.output(WorkerDetail)
@bp.doc(summary="One worker",
        description="Its latest resource sample and its recent samples (oldest first); "
                    "404 once it is gone.",
        responses=[400, 403, 404, 503])
def one_worker(name: str, query: dict[str, Any]) -> dict[str, Any]:
    """One worker with its samples."""
    with bad_input("name", "samples"):
        return get_worker(name, app=current_context().celery_app, **query)


@bp.get("/status/workers")
@bp.auth_required(auth, roles=READ)
@bp.input(WorkerListQuery, location="query", arg_name="query")
@bp.output(WorkerPage)
@bp.doc(summary="List workers",
        description="Every worker that samples its resources, alive or not (until gone), "
                    "with its latest sample, in name order; keyset-paginated.",
        responses=[400, 403, 503])
def workers(query: dict[str, Any]) -> dict[str, Any]:
    """The workers and their latest samples."""
    with bad_input("limit", "cursor"):
        return list_workers(app=current_context().celery_app, **query)
