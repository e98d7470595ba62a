"""The metrics feature on the tracking core's hooks.

The counters themselves are written by the store's ``apply.lua`` (inside the atomic
change, no extra round trip); what the feature adds is :func:`register`, called by
``install(app)``: the snapshot duty under its own lease ``P lock:metrics``.
"""

from __future__ import annotations

from regiq_tasks.hooks import Duty, Hooks
from regiq_tasks.metrics.snapshots import SNAPSHOT_INTERVAL, snapshot_duty
from regiq_tasks.store.keys import METRICS_LOCK


def register(hooks: Hooks) -> None:
    """Subscribe the metrics feature: the snapshot duty."""
    hooks.duties.append(Duty(METRICS_LOCK, lambda _settings: SNAPSHOT_INTERVAL, snapshot_duty))
