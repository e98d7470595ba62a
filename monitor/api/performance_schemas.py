"""Schemas of ``GET /status/metrics/performance``: the query and DESIGN.md's document."""

from __future__ import annotations

from apiflask import Schema, fields, validators

from regiq_tasks.metrics.windows import DEFAULT_WINDOW
from regiq_tasks.monitor.api.schemas import _out_num, _out_str, _text, _time

MAX_WINDOW_TEXT = 16  # characters of a ``window`` value ("35d" needs 3)


class PerformanceQuery(Schema):
    window = fields.String(load_default=DEFAULT_WINDOW,
                           validate=validators.Length(1, MAX_WINDOW_TEXT),
                           metadata={"description": "<n>m, <n>h or <n>d, from 5m to the "
                                                    "retention (35d by default)"})
    type = _text(metadata={"description": "only this job type"})
    queue = _text(metadata={"description": "totals and series of this queue (not with type)"})


class DurationStats(Schema):
    mean, p50, p90, p95, p99, max = (_out_num() for _ in range(6))


class WaitStats(Schema):
    mean, p50, p95, p99, max = (_out_num() for _ in range(5))


class PerformanceTotals(Schema):
    count, succeeded, failed, cancelled, lost, retried = (
        fields.Integer(required=True) for _ in range(6))
    success_rate = _out_num()
    throughput_per_min = _out_num()
    published = fields.Integer(required=True, metadata={
        "description": "jobs published (records created) in the window: the incoming count"})
    published_per_min = _out_num()
    duration_s = fields.Nested(DurationStats, required=True)
    queue_wait_s = fields.Nested(WaitStats, required=True)
    cpu_time_s_mean = _out_num()
    peak_rss_bytes_max = fields.Integer(allow_none=True, required=True)


class PerformanceType(PerformanceTotals):
    type = _out_str()


class SeriesPoint(Schema):
    at = _time()
    finished = fields.Integer(allow_none=True, required=True)
    failed = fields.Integer(allow_none=True, required=True)
    duration_p50_s = _out_num()
    duration_p95_s = _out_num()


class PerformanceOut(Schema):
    window = fields.String(required=True)
    from_ = _time(data_key="from", metadata={
        "description": "when the snapshot the window starts from was taken; null: all-time"})
    to = _time()
    step_s = fields.Integer(required=True)
    totals = fields.Nested(PerformanceTotals, required=True)
    types = fields.List(fields.Nested(PerformanceType), required=True)
    series = fields.List(fields.Nested(SeriesPoint), required=True)
