"""Schema of ``GET /status/metrics/realtime``: DESIGN.md's realtime document."""

from __future__ import annotations

from apiflask import Schema, fields

from regiq_tasks.monitor.api.schemas import _out_num, _out_str, _time
from regiq_tasks.monitor.api.worker_schemas import WorkerOut


class RealtimeQueue(Schema):
    name = _out_str()
    depth = fields.Integer(allow_none=True, required=True, metadata={
        "description": "messages in the broker's queue (null: the broker cannot tell)"})
    oldest_wait_s = _out_num(metadata={
        "description": "age of the oldest queued tracked job (null: none queued)"})
    consumers = fields.Integer(allow_none=True, required=True)


class RealtimeThroughput(Schema):
    finished_10s = fields.Integer(required=True)
    finished_60s = fields.Integer(required=True)
    per_s = _out_num(metadata={"description": "finished_60s / 60"})


class RealtimeOut(Schema):
    at = _time()
    jobs = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                       metadata={"description": "live jobs by status (all seven)"})
    by_type = fields.Dict(keys=fields.String(),
                          values=fields.Dict(keys=fields.String(), values=fields.Integer()),
                          required=True, metadata={
                              "description": "active jobs by type: queued, running, retrying"})
    queues = fields.List(fields.Nested(RealtimeQueue), required=True)
    throughput = fields.Nested(RealtimeThroughput, required=True)
    workers = fields.List(fields.Nested(WorkerOut), required=True, metadata={
        "description": "every worker with its latest resource sample, alive or not "
                       "(until gone), as GET /status/workers lists them"})
