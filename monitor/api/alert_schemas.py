"""Schemas of the alert endpoints (declared once: they validate and make the spec)."""

from __future__ import annotations

from apiflask import Schema, fields, validators

from regiq_tasks.alerts.models import AlertStatus, Severity
from regiq_tasks.alerts.service import NOTE_MAX
from regiq_tasks.monitor.api.schemas import MAX_CURSOR, MAX_TEXT, _sane_time, _text
from regiq_tasks.store.filters import DEFAULT_LIMIT, MAX_LIMIT


class AlertListQuery(Schema):
    status = fields.String(validate=validators.OneOf([s.value for s in AlertStatus]))
    severity = fields.String(validate=validators.OneOf([s.value for s in Severity]))
    rule = _text()
    since = fields.DateTime(validate=_sane_time)
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validators.Range(1, MAX_LIMIT))
    cursor = fields.String(validate=validators.Length(1, MAX_CURSOR))


class ResolveIn(Schema):
    note = fields.String(required=True, validate=validators.Length(1, NOTE_MAX))


class AlertOut(Schema):
    id = fields.Integer(required=True)
    rule = fields.String(required=True)
    severity = fields.String(required=True, validate=validators.OneOf([s.value for s in Severity]))
    status = fields.String(required=True,
                           validate=validators.OneOf([s.value for s in AlertStatus]))
    fingerprint = fields.String(required=True)
    subject = fields.String(allow_none=True, required=True)
    title = fields.String(required=True)
    details = fields.Dict(required=True)
    count = fields.Integer(required=True)
    first_seen = fields.String(required=True, metadata={"format": "date-time"})
    last_seen = fields.String(required=True, metadata={"format": "date-time"})
    resolved_at = fields.String(allow_none=True, required=True,
                                metadata={"format": "date-time"})
    resolved_by = fields.String(allow_none=True, required=True)
    note = fields.String(allow_none=True, required=True)


class AlertPage(Schema):
    items = fields.List(fields.Nested(AlertOut), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class Counts(Schema):
    alerts = fields.Integer(required=True)
    occurrences = fields.Integer(required=True)


class ResolveTimes(Schema):
    resolved = fields.Integer(required=True)
    mean = fields.Float(allow_none=True, required=True)
    p95 = fields.Float(allow_none=True, required=True)


class AlertStatisticsOut(Schema):
    total = fields.Nested(Counts, required=True)
    open = fields.Integer(required=True)
    by_severity = fields.Dict(keys=fields.String(), values=fields.Nested(Counts), required=True)
    by_status = fields.Dict(keys=fields.String(), values=fields.Nested(Counts), required=True)
    by_rule = fields.Dict(keys=fields.String(), values=fields.Nested(Counts), required=True)
    time_to_resolve_s = fields.Nested(ResolveTimes, required=True)


__all__ = [
    "MAX_TEXT",
    "AlertListQuery",
    "AlertOut",
    "AlertPage",
    "AlertStatisticsOut",
    "ResolveIn",
]
