"""The ``window`` of the performance metrics: parsing, bucket step, buckets and series step.

A window is ``<n>m``, ``<n>h`` or ``<n>d`` (minutes, hours, days; ``n`` a positive
integer written without sign, spaces or leading zeros), from ``5m`` up to the retention
of the hour buckets (``REGIQ_METRICS_RETENTION_DAYS``, default 35 days). A window of up
to 48 h reads minute buckets (kept 48 h); a longer one reads hour buckets. Bucket starts
are Unix times in whole seconds (UTC), multiples of the step, as the Redis keys will
name them. A chart series gets a step from a fixed ladder of round steps, a multiple of
the bucket step, giving at most ``MAX_SERIES_POINTS`` points (partial ones included).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from regiq_tasks.errors import InvalidParameter

DEFAULT_RETENTION_DAYS = 35  # days hour buckets are kept (REGIQ_METRICS_RETENTION_DAYS)
DEFAULT_WINDOW = "1h"  # the window of GET /status/metrics/performance when none is given
MIN_WINDOW_S = 5 * 60  # the shortest window: 5m
MINUTE_S = 60  # step of minute buckets
HOUR_S = 3600  # step of hour buckets
MINUTE_BUCKETS_MAX_S = 48 * HOUR_S  # minute buckets are kept 48 h: longer windows use hours
MAX_SERIES_POINTS = 120  # at most this many points in a chart series, partial ones included
# Round series steps (seconds), shortest first; each is a multiple of the minute step
# and those from an hour on of the hour step.
SERIES_STEPS_S = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)

_UNITS_S = {"m": MINUTE_S, "h": HOUR_S, "d": 24 * HOUR_S}
_WINDOW_RE = re.compile(r"([1-9][0-9]{0,5})([mhd])")


@dataclass(frozen=True, slots=True)
class Window:
    """A parsed window: its text as given and its length in seconds."""

    text: str
    seconds: int

    @property
    def step_s(self) -> int:
        """The step of the buckets this window reads (60 or 3600)."""
        return bucket_step(self.seconds)

    @property
    def series_step_s(self) -> int:
        """The step of this window's chart series."""
        return series_step(self.seconds)

    def bucket_starts(self, now: float) -> list[int]:
        """The starts of the buckets covering ``[now - window, now]``, oldest first."""
        return bucket_starts(self.seconds, now, self.step_s)

    def series_starts(self, now: float) -> list[int]:
        """The starts of the series points covering ``[now - window, now]``, oldest first."""
        return bucket_starts(self.seconds, now, self.series_step_s)


def parse_window(text: str, retention_days: int = DEFAULT_RETENTION_DAYS,
                 shortest_s: int = MIN_WINDOW_S) -> Window:
    """The window ``text`` names; InvalidParameter("window", ...) when it is not one.

    ``shortest_s``: the API's windows start at 5m; ``regiq top`` also reads ``1m`` (the
    minute copy before the last one: 1 to 2 minutes of jobs, ``from`` says which).
    """
    match = _WINDOW_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidParameter("window", f"{text!r} is not <n>m, <n>h or <n>d (as 5m, 1h, 7d)")
    seconds = int(match[1]) * _UNITS_S[match[2]]
    if seconds < shortest_s:
        raise InvalidParameter("window", f"{text!r} is shorter than {shortest_s // MINUTE_S}m")
    if seconds > retention_days * _UNITS_S["d"]:
        raise InvalidParameter(
            "window", f"{text!r} is longer than the {retention_days}d metrics are kept")
    return Window(text, seconds)


def bucket_step(window_s: int) -> int:
    """Minute buckets for windows up to 48 h, hour buckets beyond."""
    return MINUTE_S if window_s <= MINUTE_BUCKETS_MAX_S else HOUR_S


def series_step(window_s: int) -> int:
    """The shortest round step, a multiple of the bucket step, giving <= 120 points.

    A window of ``s`` steps meets at most ``s + 1`` of them (partial first and last).
    """
    base = bucket_step(window_s)
    for step in SERIES_STEPS_S:
        if step % base == 0 and math.ceil(window_s / step) + 1 <= MAX_SERIES_POINTS:
            return step
    return math.ceil(window_s / (MAX_SERIES_POINTS - 1) / base) * base


def bucket_starts(window_s: int, now: float, step: int) -> list[int]:
    """Starts (Unix s, multiples of ``step``) of the buckets meeting ``[now - window, now]``.

    The first and the last bucket are partial: a window reads up to one step more than
    its length, never less.
    """
    first = math.floor((now - window_s) / step) * step
    last = math.floor(now / step) * step
    return list(range(first, last + 1, step))
