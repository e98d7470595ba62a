"""The realtime metrics the relay emits every few seconds as the ``metrics`` event.

The payload is :func:`regiq_tasks.metrics.realtime.get_realtime`'s document, the same
as ``GET /status/metrics/realtime`` (DESIGN.md): ``{"at", "jobs": {<status>: live jobs},
"by_type": {<type>: {"queued", "running", "retrying"}}, "queues": [{"name", "depth",
"oldest_wait_s", "consumers"}], "throughput": {"finished_10s", "finished_60s", "per_s"},
"workers": [...]}``. Only the relay holding the lease emits it, every
``metrics_interval`` (the relay's cadence); the throughput comes from the store's
per-second finished counts (``P m:fin``), so a relay that takes over needs no priming.

The same relay emits the ``health`` event, the document of ``GET /status/system/health``,
every ``health_interval`` (``REGIQ_LIVE_HEALTH_INTERVAL``, 10 s), read off its thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from regiq_tasks.health import get_health
from regiq_tasks.metrics.realtime import get_realtime

logger = logging.getLogger(__name__)


class MetricsReader:
    """Reads the realtime metrics of one Celery app."""

    def __init__(self, celery_app: Any) -> None:
        self.celery_app = celery_app

    def read(self) -> dict[str, Any]:
        """The current metrics (Redis errors propagate as StoreUnavailable)."""
        return get_realtime(self.celery_app)


class HealthBroadcast:
    """Reads the health document (``GET /status/system/health``'s) on a thread of its own
    and emits it as the ``health`` event: a check may wait up to its timeout for a
    dependency that hangs, which must never hold up the relay's ticks. One read at a
    time; a turn that finds the last one still running skips."""

    def __init__(self, celery_app: Any, emit: Callable[[dict[str, Any]], None]) -> None:
        self.celery_app = celery_app
        self._emit = emit
        self._busy = threading.Lock()

    def start(self) -> bool:
        """Start one read and emit; False if the previous one is still running."""
        if not self._busy.acquire(blocking=False):
            return False
        threading.Thread(target=self._run, name="regiq-live-health", daemon=True).start()
        return True

    def _run(self) -> None:
        try:
            self._emit(get_health(self.celery_app))
        except Exception:  # get_health says down rather than raise; emitting may fail
            logger.warning("regiq live: health not emitted", exc_info=True)
        finally:
            self._busy.release()
