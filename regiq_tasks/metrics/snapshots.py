"""The metrics snapshot duty: copies of the cumulative counters at minute and hour starts.

``get_performance`` reads a window as the live ``P m:cum:<scope>`` minus the copy taken
at the window's start, so the copies are the only time axis the metrics have. One worker
at a time (the lease ``P lock:metrics``) runs :func:`take_snapshots` every
``SNAPSHOT_INTERVAL`` seconds; one Lua call copies every scope at the current minute
boundary and, once an hour, at the hour boundary, each only if that boundary has no copy
yet (idempotent), and trims ``P m:fin`` to the last ``FINISHED_KEEP_S`` seconds.

A boundary missed while no worker ran (or Redis came back empty) has no copy and never
gets one: the state at that time is unknown. A window starting there reads from the
earliest copy after it, and its ``from`` says so.
"""

from __future__ import annotations

import time
from importlib import resources
from typing import Any

from regiq_tasks.metrics.windows import HOUR_S, MINUTE_BUCKETS_MAX_S, MINUTE_S
from regiq_tasks.store.keys import Keys
from regiq_tasks.store.prelude import lua_prelude

SNAPSHOT_INTERVAL = 2.0  # s between passes: a copy is at most this late after its boundary
MINUTE_SNAPSHOT_TTL = MINUTE_BUCKETS_MAX_S + HOUR_S  # s: minute copies kept 48 h + 1 h margin
FINISHED_KEEP_S = 120  # s of per-second finished counts kept in P m:fin (realtime throughput)
_SCRIPT_ATTR = "_regiq_snapshot_script"


def hour_snapshot_ttl(retention_days: int) -> int:
    """Seconds an hour copy is kept: the retention and one hour of margin."""
    return retention_days * 86_400 + HOUR_S


def _script(client: Any) -> Any:
    """The registered snapshot script of this client (registered once)."""
    script = getattr(client, _SCRIPT_ATTR, None)
    if script is None:
        text = resources.files(__package__).joinpath("snapshot.lua").read_text()
        script = client.register_script(lua_prelude() + text)
        setattr(client, _SCRIPT_ATTR, script)
    return script


def take_snapshots(client: Any, keys: Keys, retention_days: int,
                   now: float | None = None) -> int:
    """Copy the counters at the minute and hour boundary of ``now`` if not yet done.

    Returns how many copies were taken (0, 1 or 2); ``now`` defaults to the clock (tests
    pass a controlled time).
    """
    now = time.time() if now is None else now
    minute = int(now // MINUTE_S) * MINUTE_S
    hour = int(now // HOUR_S) * HOUR_S
    return int(_script(client)(keys=[], args=[
        keys.prefix, repr(now), minute, hour, MINUTE_SNAPSHOT_TTL,
        hour_snapshot_ttl(retention_days), int(now) - FINISHED_KEEP_S]))


def snapshot_duty(tracker: Any) -> int:
    """The housekeeping duty: :func:`take_snapshots` with the tracker's Redis and settings."""
    return take_snapshots(tracker.redis, tracker.keys, tracker.settings.metrics_retention_days)
