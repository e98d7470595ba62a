"""Metrics endpoints: outcomes and percentiles per job type over a window; realtime."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import Response, jsonify

from regiq_tasks.metrics.performance import get_performance
from regiq_tasks.metrics.realtime import get_realtime
from regiq_tasks.monitor.api.auth import READ
from regiq_tasks.monitor.api.errors import bad_input
from regiq_tasks.monitor.api.performance_schemas import PerformanceOut, PerformanceQuery
from regiq_tasks.monitor.api.realtime_schemas import RealtimeOut
from regiq_tasks.monitor.context import current_context
from regiq_tasks.monitor.extensions import auth

bp = APIBlueprint("performance", __name__, tag="Metrics")


@bp.get("/status/metrics/performance")
@bp.auth_required(auth, roles=READ)
@bp.input(PerformanceQuery, location="query", arg_name="query")
@bp.output(PerformanceOut)
@bp.doc(summary="Performance per job type",
        description="Outcomes, throughput, duration and queue-wait percentiles (within 7% "
                    "of exact), resources and a chart series over `window`, read from "
                    "cumulative counters: the cost does not grow with the jobs or the window.",
        responses=[400, 403, 503])
def performance(query: dict[str, Any]) -> Response:
    """The performance document of DESIGN.md.

    Answered as built (``PerformanceOut`` documents it; ``tests/test_monitor_performance.py``
    checks the answer against it): serialising 50 types through marshmallow would cost
    more than reading them.
    """
    with bad_input("window", "type", "queue"):
        return jsonify(get_performance(app=current_context().celery_app, **query))


@bp.get("/status/metrics/realtime")
@bp.auth_required(auth, roles=READ)
@bp.output(RealtimeOut)
@bp.doc(summary="Realtime metrics",
        description="Now: live jobs by status and active ones by type, queue depths from "
                    "the broker with the oldest queued job's wait and the consumers, jobs "
                    "finished over 10 s and 60 s, and the workers with their latest "
                    "resource sample (as GET /status/workers). Also the payload of the "
                    "Socket.IO `metrics` event.",
        responses=[403, 503])
def realtime() -> Response:
    """The realtime document of DESIGN.md (answered as built, like performance)."""
    return jsonify(get_realtime(current_context().celery_app))
