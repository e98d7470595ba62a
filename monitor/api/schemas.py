"""Request and response schemas of the REST API: they validate and they make the spec.

Each schema is declared once here; apiflask validates requests against the input
schemas, serialises responses through the output schemas and generates
``/openapi.json`` from both.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apiflask import Schema, fields, validators
from marshmallow import ValidationError

from regiq_tasks.errors import InvalidParameter
from regiq_tasks.states import JobStatus
from regiq_tasks.store.filters import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_REASON,
    MAX_TEXT,
    MIN_ID_PREFIX,
    to_datetime,
)

MAX_CURSOR = 512  # characters of a cursor
MAX_PROGRESS = 1e15  # largest progress value accepted (keeps every value finite)
STATUSES = [s.value for s in JobStatus]


class JSONNumber(fields.Float):
    """A JSON number that keeps integers integral (``3`` stays ``3``, not ``3.0``)."""

    def _format_num(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return float(value)

    def _validated(self, value: Any) -> Any:
        try:
            return super()._validated(value)
        except OverflowError:  # an integer too large for a float: bad input, not a 500
            raise ValidationError("number out of range") from None


def _sane_time(value: datetime) -> None:
    """Refuse the times the Python API refuses (the bounds of ``filters.to_datetime``)."""
    try:
        to_datetime(value, "time")
    except InvalidParameter as exc:
        raise ValidationError(exc.problem) from None


def _text(**kw: Any) -> fields.String:
    return fields.String(validate=validators.Length(1, MAX_TEXT), **kw)


def _out_str(**kw: Any) -> fields.String:
    return fields.String(allow_none=True, required=True, **kw)


def _out_num(**kw: Any) -> JSONNumber:
    return JSONNumber(allow_none=True, required=True, **kw)


def _time(**kw: Any) -> fields.String:
    return fields.String(allow_none=True, required=True, metadata={"format": "date-time",
                                                                  **kw.pop("metadata", {})},
                         **kw)


# -- requests ------------------------------------------------------------------------------

class JobListQuery(Schema):
    """Filters and paging of ``GET /status/jobs``."""

    status = fields.String(validate=validators.OneOf(STATUSES))
    type = _text()
    worker = _text()
    pipeline_id = _text()
    root_id = _text(metadata={"description": "alias of pipeline_id"})
    name = _text(metadata={"description": "the task name, e.g. pipeline.ingest"})
    id_prefix = fields.String(
        validate=validators.Length(MIN_ID_PREFIX, MAX_TEXT),
        metadata={"description": f"jobs whose id starts with it (at least {MIN_ID_PREFIX} "
                                 "characters)"})
    since = fields.DateTime(validate=_sane_time,
                            metadata={"description": "created at or after (naive = UTC)"})
    until = fields.DateTime(validate=_sane_time,
                            metadata={"description": "created before (naive = UTC)"})
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validators.Range(1, MAX_LIMIT))
    cursor = fields.String(validate=validators.Length(1, MAX_CURSOR),
                           metadata={"description": "next_cursor of the previous page"})


class HistoryQuery(JobListQuery):
    """Filters and paging of ``GET /status/jobs/history`` (those of the live listing)."""


class ProgressIn(Schema):
    """Body of ``PUT /status/jobs/{job_id}/progress``."""

    current = JSONNumber(required=True, validate=validators.Range(0, MAX_PROGRESS))
    total = JSONNumber(validate=validators.Range(0, MAX_PROGRESS, min_inclusive=False))
    message = fields.String(validate=validators.Length(max=MAX_REASON))


class CancelIn(Schema):
    """Body of ``PUT /status/jobs/{job_id}/cancel`` and ``PUT /status/pipelines/{id}/cancel``."""

    reason = fields.String(required=True, validate=[
        validators.Length(1, MAX_REASON),
        validators.Regexp(r"\S", error="must not be blank")])
    terminate = fields.Boolean(load_default=False, metadata={
        "description": "terminate the job if it still runs after the grace period"})


# -- responses -----------------------------------------------------------------------------

class ProgressOut(Schema):
    """A job's progress."""

    current = _out_num()
    total = _out_num()
    percent = _out_num()
    message = _out_str()


class ErrorInfo(Schema):
    """How a job failed."""

    type = _out_str()
    message = _out_str()
    traceback = _out_str()


class CancelInfo(Schema):
    """A job's cancel request."""

    requested = fields.Boolean(required=True)
    reason = _out_str()
    requested_by = _out_str()
    requested_at = _time()
    terminate = fields.Boolean()
    terminated = fields.Boolean()  # the job's process was terminated (a forced cancel)
    signal = _out_str()  # the signal that terminated it, e.g. SIGTERM


class Resources(Schema):
    """CPU and memory used by a job."""

    cpu_time_s = _out_num()
    cpu_percent = _out_num()
    peak_rss_bytes = _out_num()
    rss_bytes = JSONNumber(allow_none=True, metadata={
        "description": "RSS of the job's process now (running jobs only)"})


class JobOut(Schema):
    """The job record (the same dict as the Python API's ``get_job``)."""

    id = fields.String(required=True, metadata={"description": "the Celery task id"})
    name = _out_str()
    type = _out_str()
    status = fields.String(required=True, validate=validators.OneOf(STATUSES))
    progress = fields.Nested(ProgressOut, allow_none=True, required=True)
    eta_seconds = _out_num()
    rate_per_s = _out_num()
    created_at = _time()
    started_at = _time()
    finished_at = _time()
    queue_wait_s = _out_num()
    duration_s = _out_num()
    worker = _out_str()
    queue = _out_str()
    retries = fields.Integer(allow_none=True, required=True)
    pipeline_id = _out_str()
    root_id = _out_str()
    parent_id = _out_str()
    group_id = _out_str()
    error = fields.Nested(ErrorInfo, allow_none=True, required=True)
    cancel = fields.Nested(CancelInfo, allow_none=True, required=True)
    resources = fields.Nested(Resources, allow_none=True, required=True)
    args_preview = _out_str()
    metadata = fields.Dict(keys=fields.String(), required=True)
    alert_severity = fields.String(allow_none=True)
    expected_duration = JSONNumber(allow_none=True)
    retry_of = fields.String(allow_none=True, metadata={
        "description": "the job this one retries (PUT /status/jobs/{id}/retry)"})
    retried_as = fields.String(allow_none=True, metadata={
        "description": "the job that retries this one"})
    retried_by = fields.String(allow_none=True, metadata={
        "description": "who asked for that retry"})
    eta_basis = fields.String(allow_none=True, validate=validators.OneOf(["progress", "history"]),
                              metadata={"description": "`progress`: eta_seconds from the job's "
                                        "own progress; `history`: from its type's recent "
                                        "durations (and, queued, its place in the queue)"})
    predicted_start_at = fields.String(allow_none=True, metadata={
        "description": "queued jobs: when it is expected to start (ISO-8601 UTC)"})
    slow = fields.Boolean(metadata={
        "description": "running and past its expected_duration, or past its type's 7-day "
                       "p99 (a type with at least REGIQ_SLOW_MIN_RUNS runs)"})


class JobPage(Schema):
    """One page of a job listing."""

    items = fields.List(fields.Nested(JobOut), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class HealthOut(Schema):
    """Liveness, without details."""

    status = fields.String(required=True)


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message", "details"],
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "details": {"description": "what was wrong, e.g. the invalid fields"},
        },
    }},
}


def merge_duplicate_components(spec: dict[str, Any] | str) -> dict[str, Any] | str:
    """Fold components apiflask registered twice (``JobOut1`` equal to ``JobOut``).

    apiflask names a view's output schema without knowing that apispec already
    registered the same class nested in another schema, so the job record would be
    documented twice; this points every reference at the first name.
    """
    if isinstance(spec, str):
        return spec
    schemas: dict[str, Any] = spec.get("components", {}).get("schemas", {})
    renames = {name: name.rstrip("0123456789") for name in schemas
               if name != name.rstrip("0123456789")
               and schemas.get(name.rstrip("0123456789")) == schemas[name]}
    if not renames:
        return spec
    for name in renames:
        del schemas[name]

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            name = ref.rsplit("/", 1)[-1]
            if ref.startswith("#/components/schemas/") and name in renames:
                return {**node, "$ref": f"#/components/schemas/{renames[name]}"}
            return {k: fix(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    fixed: dict[str, Any] = fix(spec)
    return fixed
