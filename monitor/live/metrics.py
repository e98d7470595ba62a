"""The realtime metrics the relay emits every few seconds as the ``metrics`` event.

The payload is :func:`regiq_tasks.metrics.realtime.get_realtime`'s document, the same
as ``GET /status/metrics/realtime`` (DESIGN.md): ``{"at", "jobs": {<status>: live jobs},
"by_type": {<type>: {"queued", "running", "retrying"}}, "queues": [{"name", "depth",
"oldest_wait_s", "consumers"}], "throughput": {"finished_10s", "finished_60s", "per_s"},
"workers": []}``. Only the relay holding the lease emits it, every
``metrics_interval`` (the relay's cadence); the throughput comes from the store's
per-second finished counts (``P m:fin``), so a relay that takes over needs no priming.
"""

from __future__ import annotations

from typing import Any

from regiq_tasks.metrics.realtime import get_realtime


class MetricsReader:
    """Reads the realtime metrics of one Celery app."""

    def __init__(self, celery_app: Any) -> None:
        self.celery_app = celery_app

    def read(self) -> dict[str, Any]:
        """The current metrics (Redis errors propagate as StoreUnavailable)."""
        return get_realtime(self.celery_app)
