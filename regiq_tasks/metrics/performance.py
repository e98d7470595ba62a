"""``get_performance``: outcomes, percentiles and a series per job type over a window;
``throughput``: jobs finished over the last 10 s and 60 s.

A window is the live ``P m:cum:<scope>`` minus the snapshot taken at the window's start
(minute copies for windows up to 48 h, hour copies beyond; see ``snapshots.py``): two
hashes per scope and one per series point, in two pipelined round trips, whatever the
window's length or the number of jobs. If no copy exists at the window's start (the
duty was not running, Redis came back empty, the window reaches before the first copy)
the earliest copy after it is used and ``from`` says when that copy was taken; with no
copy at all the counts are all-time and ``from`` is null.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from celery import current_app

from regiq_tasks.errors import InvalidParameter, reachable
from regiq_tasks.metrics.summary import (
    SNAPSHOT_TIME,
    Fields,
    parse,
    series_point,
    subtract,
    summarize,
)
from regiq_tasks.metrics.windows import DEFAULT_WINDOW, MINUTE_S, Window, parse_window
from regiq_tasks.store.filters import text_arg
from regiq_tasks.store.keys import SCOPE_ALL, queue_scope, type_scope
from regiq_tasks.store.record import iso
from regiq_tasks.tracking.tracker import Tracker, get_tracker

_TYPE_PREFIX = type_scope("")
REALTIME_SPANS_S = (10, 60)  # s: the spans of the realtime throughput


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one read needs: the scopes, the snapshot kind, start and series boundaries."""

    window: Window
    now: float
    main: str  # the scope of totals and series
    scopes: list[str]  # the scopes listed in ``types`` (type scopes)
    kind: str
    base: int | None  # boundary of the copy the window starts from, None: all-time
    series: list[int]


def _tracker(app: Any) -> Tracker:
    tracker = get_tracker(app if app is not None else current_app._get_current_object())
    tracker.flush(timeout=1.0)  # this process's own queued changes count too
    return tracker


def _main_scope(type: str | None, queue: str | None) -> str:
    """The scope of ``totals``: the type's, the queue's or every job's."""
    if type is not None and queue is not None:
        raise InvalidParameter("queue", "type and queue cannot be combined")
    if type is not None:
        return type_scope(text_arg(type, "type"))
    if queue is not None:
        return queue_scope(text_arg(queue, "queue"))
    return SCOPE_ALL


def _plan(tracker: Tracker, window: Window, main: str, now: float) -> _Plan:
    """Round trip 1: the known scopes and the first copy at or after the window's start."""
    keys, step = tracker.keys, window.step_s
    kind = "m" if step == MINUTE_S else "h"
    first = math.floor((now - window.seconds) / step) * step
    pipe = tracker.redis.pipeline(transaction=False)
    pipe.zrangebyscore(keys.metrics_snapshots(kind), first, "+inf", start=0, num=1)
    pipe.smembers(keys.metrics_scopes)
    found, known = pipe.execute()
    base = int(found[0]) if found else None
    if main == SCOPE_ALL:
        scopes = sorted(s.decode() for s in known if s.startswith(_TYPE_PREFIX.encode()))
    else:
        scopes = [main] if main.startswith(_TYPE_PREFIX) else []
    series = [b for b in window.series_starts(now) if base is not None and b >= base]
    return _Plan(window, now, main, scopes, kind, base, series)


def _read(tracker: Tracker, plan: _Plan) -> tuple[dict[str, Fields], dict[str, Fields],
                                                  list[Fields | None]]:
    """Round trip 2: live counters and start copies of each scope, the series copies."""
    keys, pipe = tracker.keys, tracker.redis.pipeline(transaction=False)
    scopes = [plan.main, *plan.scopes]
    for scope in scopes:
        pipe.hgetall(keys.metrics_cum(scope))
        if plan.base is not None:
            pipe.hgetall(keys.metrics_snapshot(plan.kind, plan.base, scope))
    for boundary in plan.series:
        pipe.hgetall(keys.metrics_snapshot(plan.kind, boundary, plan.main))
    replies = iter(pipe.execute())
    live: dict[str, Fields] = {}
    start: dict[str, Fields] = {}
    for scope in scopes:
        live[scope] = parse(next(replies))
        if plan.base is not None:
            start[scope] = parse(next(replies))
    copies = [parse(next(replies)) for _ in plan.series]
    return live, start, [c if SNAPSHOT_TIME in c else None for c in copies]


def _series(plan: _Plan, live: Fields, copies: list[Fields | None]) -> list[dict[str, Any]]:
    """One point per series step: the difference of consecutive copies (live at the end)."""
    states: list[Fields | None] = [*copies, live]
    points = []
    for boundary, earlier, later in zip(plan.series, states, states[1:]):
        step = None if earlier is None or later is None else subtract(later, earlier)
        points.append({"at": iso(boundary), **series_point(step)})
    return points


def _types(plan: _Plan, live: dict[str, Fields], start: dict[str, Fields],
           span: float) -> list[dict[str, Any]]:
    """One entry per type with anything recorded in the window, by type name."""
    out = []
    for scope in plan.scopes:
        step = subtract(live[scope], start.get(scope))
        if any(step.values()) or plan.main != SCOPE_ALL:
            out.append({"type": scope[len(_TYPE_PREFIX):], **summarize(step, span)})
    return out


def get_performance(window: str = DEFAULT_WINDOW, type: str | None = None,
                    queue: str | None = None, app: Any = None,
                    now: float | None = None) -> dict[str, Any]:
    """Outcomes, throughput, duration and queue-wait percentiles, resources and a series
    over ``window`` (``<n>m|h|d``), per job type, in the shape of DESIGN.md.

    ``type`` narrows to one job type; ``queue`` reads one queue's totals and series
    (``types`` is then empty: the counters are per type or per queue, not both).
    Bad arguments raise InvalidParameter naming the parameter.
    """
    tracker = _tracker(app)
    parsed = parse_window(window, tracker.settings.metrics_retention_days)
    main = _main_scope(type, queue)
    now = time.time() if now is None else now
    with reachable("get_performance"):
        plan = _plan(tracker, parsed, main, now)
        live, start, copies = _read(tracker, plan)
    began = start.get(main, {}).get(SNAPSHOT_TIME)
    span = now - began if began is not None else parsed.seconds
    return {"window": parsed.text, "from": iso(began), "to": iso(now),
            "step_s": parsed.series_step_s,
            "totals": summarize(subtract(live[main], start.get(main)), span),
            "types": _types(plan, live, start, span),
            "series": _series(plan, live[main], copies)}


def throughput(app: Any = None, now: float | None = None) -> dict[str, Any]:
    """Jobs finished in the last 10 s and 60 s, and the 60 s rate per second."""
    tracker = _tracker(app)
    now = time.time() if now is None else now
    with reachable("throughput"):
        raw: Any = tracker.redis.hgetall(tracker.keys.metrics_finished)
    per_second = {int(k): int(v) for k, v in raw.items()}
    short, long = (sum(n for s, n in per_second.items() if s > now - span)
                   for span in REALTIME_SPANS_S)
    return {"finished_10s": short, "finished_60s": long,
            "per_s": round(long / REALTIME_SPANS_S[1], 3)}
