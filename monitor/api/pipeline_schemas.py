"""Response schema of a pipeline: its steps (jobs and pending steps), progress and graph."""

from __future__ import annotations

from apiflask import Schema, fields, validators

from regiq_tasks.monitor.api.schemas import STATUSES, JobOut, JSONNumber, _time
from regiq_tasks.pipelines.graph import PENDING

STEP_STATUSES = [*STATUSES, PENDING]


class PipelineProgress(Schema):
    """A pipeline's aggregate progress."""

    percent = JSONNumber(required=True, metadata={
        "description": "mean over every planned step; a step not yet published counts 0"})
    finished_jobs = fields.Integer(required=True)


class PipelineStepOut(JobOut):
    """A step of a pipeline: a job record, or a planned step not yet published."""

    id = fields.String(required=True, allow_none=True, metadata={
        "description": "the Celery task id; null for a step not yet published"})
    status = fields.String(required=True, validate=validators.OneOf(STEP_STATUSES), metadata={
        "description": "`pending`: planned, not yet published (`cancelled` once the "
                       "pipeline is cancelled)"})


class GraphNodeOut(Schema):
    """A node of a pipeline's graph: one step, or steps in order or side by side."""

    kind = fields.String(required=True,
                         validate=validators.OneOf(["task", "chain", "group", "chord"]))
    job = fields.Integer(metadata={"description": "task: index of its entry in `jobs`"})
    spawned = fields.List(fields.Nested(lambda: GraphNodeOut()), metadata={
        "description": "task: jobs no plan names that it published (or retries of it)"})
    steps = fields.List(fields.Nested(lambda: GraphNodeOut()),
                        metadata={"description": "chain: run in order"})
    members = fields.List(fields.Nested(lambda: GraphNodeOut()),
                          metadata={"description": "group: run side by side"})
    header = fields.List(fields.Nested(lambda: GraphNodeOut()),
                         metadata={"description": "chord: the group run first"})
    body = fields.Nested(lambda: GraphNodeOut(),
                         metadata={"description": "chord: run once the header is done"})


class PipelineOut(Schema):
    """A chain, group or chord as one, every planned step counted."""

    pipeline_id = fields.String(required=True)
    status = fields.String(required=True, validate=validators.OneOf(STATUSES))
    total_jobs = fields.Integer(required=True, metadata={
        "description": "every planned step, published or not, and the jobs it spawned"})
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    progress = fields.Nested(PipelineProgress, required=True)
    created_at = _time()
    finished_at = _time()
    planned = fields.Boolean(required=True, metadata={
        "description": "false when no plan is known (a lone task, or the plan expired): "
                       "only published jobs are counted and the graph follows them"})
    jobs = fields.List(fields.Nested(PipelineStepOut), required=True, metadata={
        "description": "in graph order (depth first), then spawned jobs"})
    graph = fields.Nested(GraphNodeOut, required=True, allow_none=True)
    eta_seconds = JSONNumber(allow_none=True, metadata={
        "description": "seconds until the last step is done, along the critical path "
                       "(running steps' ETAs, planned steps' type p50); null once it "
                       "ended or when a step's type has no history"})
    predicted_finish_at = fields.String(allow_none=True, metadata={
        "description": "now + eta_seconds (ISO-8601 UTC)"})
    eta_range_s = fields.List(JSONNumber(), allow_none=True, metadata={
        "description": "[low, high] seconds: from the types' p50 and p90"})
