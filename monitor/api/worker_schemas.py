"""Schemas of ``GET /status/workers`` and ``GET /status/workers/{name}`` (and of the
``workers`` of the realtime document): a worker as its latest resource sample tells."""

from __future__ import annotations

from typing import Any

from apiflask import Schema, fields, validators

from regiq_tasks.monitor.api.schemas import MAX_CURSOR, _out_num, _out_str, _time
from regiq_tasks.resources.store import MAX_SAMPLES
from regiq_tasks.resources.workers import DEFAULT_SAMPLES
from regiq_tasks.store.filters import DEFAULT_LIMIT, MAX_LIMIT


def _count(**kw: Any) -> fields.Integer:
    return fields.Integer(allow_none=True, required=True, **kw)


class WorkerListQuery(Schema):
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validators.Range(1, MAX_LIMIT))
    cursor = fields.String(validate=validators.Length(1, MAX_CURSOR),
                           metadata={"description": "next_cursor of the previous page"})


class WorkerQuery(Schema):
    samples = fields.Integer(load_default=DEFAULT_SAMPLES,
                             validate=validators.Range(1, MAX_SAMPLES), metadata={
                                 "description": "the newest samples to return"})


class DiskUse(Schema):
    path = fields.String(required=True)
    used_percent = _out_num()
    free_bytes = _count()
    total_bytes = _count()


class HostOut(Schema):
    name = _out_str()
    cpus = _count()
    cpu_percent = _out_num(metadata={"description": "all cores, 0-100"})
    memory_percent = _out_num()
    memory_total_bytes = _count()
    swap_percent = _out_num()
    load_1m = _out_num()
    load_5m = _out_num()
    load_15m = _out_num()
    disk = fields.List(fields.Nested(DiskUse), required=True)


class WorkerOut(Schema):
    name = fields.String(required=True, metadata={"description": "Celery's node name"})
    alive = fields.Boolean(required=True, metadata={
        "description": "false once it has not sampled for 3 of its sample intervals"})
    last_seen = _time()
    pool = _out_str(metadata={"description": "prefork, solo, threads, eventlet, gevent"})
    concurrency = _count()
    busy = _count(metadata={"description": "tasks it runs now"})
    cpu_percent = _out_num(metadata={"description": "its process tree, % of one core"})
    rss_bytes = _count(metadata={"description": "its process tree's resident memory"})
    processes = _count()
    open_files = _count(metadata={"description": "file descriptors open in the tree"})
    pid = _count()
    started_at = _time()
    interval_s = _out_num()
    host = fields.Nested(HostOut, required=True)


class WorkerPage(Schema):
    items = fields.List(fields.Nested(WorkerOut), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class WorkerSample(Schema):
    at = _time()
    busy = _count()
    cpu_percent = _out_num()
    rss_bytes = _count()
    open_files = _count()
    host_cpu_percent = _out_num()
    host_memory_percent = _out_num()
    host_swap_percent = _out_num()
    load_1m = _out_num()
    disk_used_percent = _out_num(metadata={"description": "the fullest sampled path"})


class WorkerDetail(WorkerOut):
    samples = fields.List(fields.Nested(WorkerSample), required=True, metadata={
        "description": "its recent samples, oldest first"})
