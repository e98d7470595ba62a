"""``get_health``: every component checked at once, each within its own timeout.

The checks of :mod:`regiq_tasks.health.components` run concurrently on a small pool of
daemon threads kept per process. The answer waits at most ``REGIQ_HEALTH_TIMEOUT``
(1.5 s) for all of them: a check that has not answered by then is ``down`` ("no answer
within 1.5 s") and its thread is left to finish or fail on its own (the Redis client's
socket timeout and the broker's connect timeout bound it), so a dependency that hangs
never holds the answer beyond the timeout. A check that raises is ``down`` and its
reason names the error's kind, not its text (which may name hosts).

The document is DESIGN.md's: ``{"status", "at", "components": {name: {"status", ...}},
"reasons": [...]}``. The status is ``down`` when Redis, the database or the broker is
unreachable or no worker is alive (those lose or stop everything), else the worst of
the components, a ``down`` one counting as ``degraded``.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from celery import current_app

from regiq_tasks.errors import HistoryNotFound
from regiq_tasks.health.components import (
    CHECKS,
    DEGRADED,
    DOWN,
    ESSENTIAL,
    Component,
    Probe,
    worst,
)
from regiq_tasks.store.record import iso
from regiq_tasks.tracking.tracker import get_tracker

logger = logging.getLogger(__name__)

MAX_THREADS = 16  # checks in flight per process, hung ones included
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(MAX_THREADS, thread_name_prefix="regiq-health")
        return _pool


def _run(check: Any, probe: Probe) -> Component:
    try:
        return check(probe)  # type: ignore[no-any-return]
    except HistoryNotFound:
        return Component(DOWN, reasons=["database: the history database has no regiq schema "
                                        "(start a worker or run regiq db upgrade)"])


def _failed(name: str, future: Future[Component] | None, timeout: float) -> Component:
    if future is None or not future.done():
        return Component(DOWN, reasons=[f"{name}: no answer within {timeout:g} s"])
    exc = future.exception()
    logger.warning("regiq: health check %s failed: %s", name, exc)
    return Component(DOWN, reasons=[f"{name}: unreachable ({type(exc).__name__})"])


def get_health(app: Any = None) -> dict[str, Any]:
    """The health document of DESIGN.md; never raises for a dependency that fails."""
    app = app if app is not None else current_app._get_current_object()
    tracker = get_tracker(app)
    probe = Probe(app, tracker)
    timeout = tracker.settings.health_timeout
    futures = {name: _executor().submit(_run, check, probe) for name, check in CHECKS.items()}
    wait(futures.values(), timeout=timeout)
    found: dict[str, Component] = {}
    for name, future in futures.items():
        ok = future.done() and future.exception() is None
        found[name] = future.result() if ok else _failed(name, future, timeout)
    return document(found)


def document(found: dict[str, Component]) -> dict[str, Any]:
    """The answer from the components found."""
    essential_down = any(c.status == DOWN for n, c in found.items() if n in ESSENTIAL)
    status = DOWN if essential_down else worst(
        [DEGRADED if c.status == DOWN else c.status for c in found.values()])
    return {"status": status, "at": iso(time.time()),
            "components": {name: c.document() for name, c in found.items()},
            "reasons": [r for c in found.values() for r in c.reasons]}
