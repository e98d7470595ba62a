"""The Python API for reading jobs: live store first, then history.

Each function takes an optional ``app`` (default: Celery's current app) and returns
plain dicts in the JSON shape of DESIGN.md. Bad arguments raise ``InvalidParameter`` (a
``ValueError``) naming the parameter (``.parameter``); an unreachable Redis or database
raises ``StoreUnavailable`` naming the dependency (``.dependency``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from celery import current_app

from regiq_tasks.errors import reachable
from regiq_tasks.history import repository
from regiq_tasks.pipelines.graph import plan_tree
from regiq_tasks.pipelines.summary import summarize_pipeline
from regiq_tasks.predict.annotate import annotate_jobs, annotate_pipeline
from regiq_tasks.store.filters import DEFAULT_LIMIT, JobQuery, text_arg
from regiq_tasks.tracking.tracker import Tracker, get_tracker

T = TypeVar("T")
TimeArg = datetime | str | None


def _tracker(app: Any) -> Tracker:
    tracker = get_tracker(app if app is not None else current_app._get_current_object())
    tracker.flush(timeout=1.0)  # make this process's own queued changes visible first
    return tracker


def _job_id(job_id: Any, name: str = "job_id") -> str:
    return text_arg(job_id, name)


def get_job(job_id: str, *, app: Any = None) -> dict[str, Any] | None:
    """One job's record from the live store, else from history; None if unknown."""
    job_id = _job_id(job_id)
    tracker = _tracker(app)
    with reachable("get_job"):
        record = tracker.store.get(job_id)
        if record is None:
            record = repository.get_job(tracker.existing_engine, job_id)
        annotate_jobs(tracker, [record])
    return record


def list_jobs(*, status: str | None = None, type: str | None = None, worker: str | None = None,
              pipeline_id: str | None = None, root_id: str | None = None,
              name: str | None = None, id_prefix: str | None = None,
              since: TimeArg = None, until: TimeArg = None, limit: int = DEFAULT_LIMIT,
              cursor: str | None = None, app: Any = None) -> dict[str, Any]:
    """Live jobs, newest first: ``{"items": [...], "next_cursor": str | None}``.

    A filter no index covers (``name``, ``id_prefix``) reads at most
    ``store.query.SCAN_BUDGET`` index entries per call: a page may then be short and
    still have a ``next_cursor``.
    """
    q = JobQuery.build(status=status, type=type, worker=worker, pipeline_id=pipeline_id,
                       root_id=root_id, name=name, id_prefix=id_prefix, since=since,
                       until=until, limit=limit, cursor=cursor)
    tracker = _tracker(app)
    with reachable("list_jobs"):
        items, next_cursor = tracker.store.lister.page(q)
        annotate_jobs(tracker, items)
    return {"items": items, "next_cursor": next_cursor}


def get_history(*, status: str | None = None, type: str | None = None,
                worker: str | None = None, pipeline_id: str | None = None,
                root_id: str | None = None, name: str | None = None,
                id_prefix: str | None = None, since: TimeArg = None, until: TimeArg = None,
                limit: int = DEFAULT_LIMIT, cursor: str | None = None,
                app: Any = None) -> dict[str, Any]:
    """Archived jobs from SQL, newest first: ``{"items": [...], "next_cursor": ...}``."""
    q = JobQuery.build(status=status, type=type, worker=worker, pipeline_id=pipeline_id,
                       root_id=root_id, name=name, id_prefix=id_prefix, since=since,
                       until=until, limit=limit, cursor=cursor)
    tracker = _tracker(app)
    with reachable("get_history"):
        items, next_cursor = repository.query_history(
            tracker.existing_engine, q, tracker.settings.history_query_timeout)
    annotate_jobs(tracker, items)  # archived jobs are final: no read, the fields only
    return {"items": items, "next_cursor": next_cursor}


def get_pipeline(pipeline_id: str, *, app: Any = None) -> dict[str, Any] | None:
    """A chain/group/chord as one: every step of its plan (live jobs, then archived ones,
    then the steps not yet published) and its graph; None if unknown."""
    pipeline_id = _job_id(pipeline_id, "pipeline_id")
    tracker = _tracker(app)
    with reachable("get_pipeline"):
        live = {j["id"]: j for j in tracker.store.lister.pipeline_records(pipeline_id)}
        entries, cancelled = tracker.store.pipeline_plan(pipeline_id)
        archived = _all_pages(lambda cursor: repository.query_history(
            tracker.existing_engine,
            JobQuery.build(pipeline_id=pipeline_id, limit=500, cursor=cursor),
            tracker.settings.history_query_timeout))
    jobs = {**{j["id"]: j for j in archived}, **live}
    if not jobs:
        return None
    pipeline = summarize_pipeline(pipeline_id, list(jobs.values()), plan_tree(entries),
                                  cancelled)
    with reachable("get_pipeline"):
        return annotate_pipeline(tracker, pipeline)


def _all_pages(fetch: Callable[[str | None], tuple[list[T], str | None]],
               max_pages: int = 20) -> list[T]:
    items: list[T] = []
    cursor: str | None = None
    for _ in range(max_pages):
        page, cursor = fetch(cursor)
        items.extend(page)
        if cursor is None:
            break
    return items
