"""``get_performance``: outcomes, percentiles and a series per job type over a window;
``throughput``: jobs finished over the last 10 s and 60 s.

A window is the live ``P m:cum:<scope>`` minus the copy taken at the window's start
(minute copies for windows up to 48 h, hour copies beyond; see ``snapshots.py``), and a
series point the difference of two consecutive copies: two round trips whatever the
window's length or the number of jobs. Copies never change once taken, so what was
parsed of one is kept (``state.CopyCache``, per Redis client): a repeated read parses only
the live counters and the copies taken since. If no copy exists at the window's start
(no worker ran the duty then, Redis came back empty, the window reaches before the first
copy) the earliest copy after it is used and ``from`` says when it was taken; with no
copy at all the counts are all-time and ``from`` is null.
"""

from __future__ import annotations

import math
import time
from importlib import resources
from typing import Any

from celery import current_app

from regiq_tasks.errors import InvalidParameter, reachable
from regiq_tasks.metrics.state import (
    EMPTY,
    CopyCache,
    State,
    cached_point,
    entry,
    parse,
    point,
)
from regiq_tasks.metrics.summary import SCALARS, series_point, summarize
from regiq_tasks.metrics.windows import (
    DEFAULT_WINDOW,
    MIN_WINDOW_S,
    MINUTE_S,
    Window,
    parse_window,
)
from regiq_tasks.store.filters import text_arg
from regiq_tasks.store.keys import SCOPE_ALL, queue_scope, type_scope
from regiq_tasks.store.prelude import lua_prelude
from regiq_tasks.store.record import iso
from regiq_tasks.tracking.tracker import Tracker, get_tracker

_TYPE_PREFIX = type_scope("")
REALTIME_SPANS_S = (10, 60)  # s: the spans of the realtime throughput
_SCRIPT_ATTR = "_regiq_metrics_index_script"
_CACHE_ATTR = "_regiq_metrics_copy_cache"


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


def _client_attr(client: Any, name: str, make: Any) -> Any:
    """A per-client companion (the registered script, the copy cache), made once."""
    value = getattr(client, name, None)
    if value is None:
        value = make()
        setattr(client, name, value)
    return value


def _index(tracker: Tracker, kind: str, first: int, main: str, series: list[int]) -> Any:
    """Round trip 1 (index.lua): the window's first copy, the type scopes, series ``_at``."""
    client = tracker.redis
    script = _client_attr(client, _SCRIPT_ATTR, lambda: client.register_script(
        lua_prelude() + resources.files(__package__).joinpath("index.lua").read_text()))
    return script(keys=[], args=[tracker.keys.prefix, kind, first, main,
                                 "1" if main == SCOPE_ALL else "0", *series])


def _load(tracker: Tracker, live_keys: list[str],
          copies: list[tuple[str, str]]) -> tuple[list[State], dict[str, State], CopyCache]:
    """Round trip 2: the live counters, and the copies not parsed before (by key, _at)."""
    cache: CopyCache = _client_attr(tracker.redis, _CACHE_ATTR, CopyCache)
    found = {key: cache.get(key, at) for key, at in copies}
    missing = [key for key, state in found.items() if state is None]
    pipe = tracker.redis.pipeline(transaction=False)
    for key in [*live_keys, *missing]:
        pipe.hgetall(key)
    states = [parse(raw) for raw in pipe.execute()]
    for key, state in zip(missing, states[len(live_keys):]):
        if state.at is not None:
            cache.put(state, key, state.at)
        found[key] = state
    return states[:len(live_keys)], {k: v for k, v in found.items() if v is not None}, cache


def _read(tracker: Tracker, window: Window, main: str,
          now: float) -> tuple[State, list[list[Any]], list[tuple[int, list[float] | None]]]:
    """The start copy of ``main``, the scope entries and the series points."""
    step, keys = window.step_s, tracker.keys
    kind = "m" if step == MINUTE_S else "h"
    series = window.series_starts(now)
    raw_base, raw_at, types, ats = _index(
        tracker, kind, math.floor((now - window.seconds) / step) * step, main, series)
    scopes = [main, *(t.decode() for t in types)]
    base = int(raw_base) if raw_base else None
    wanted = [(keys.metrics_snapshot(kind, base, s), raw_at.decode()) for s in scopes
              if base is not None]
    marks = [(b, at.decode()) for b, at in zip(series, ats) if base is not None and b >= base]
    wanted += [(keys.metrics_snapshot(kind, b, main), at) for b, at in marks if at]
    live, copies, cache = _load(tracker, [keys.metrics_cum(s) for s in scopes], wanted)
    starts = [copies.get(keys.metrics_snapshot(kind, base, s), EMPTY) if base is not None
              else EMPTY for s in scopes]
    entries = [entry(s, lv, st) for s, lv, st in zip(scopes, live, starts)]
    states = [copies.get(keys.metrics_snapshot(kind, b, main)) for b, _ in marks] + [live[0]]
    points = [(b, _point(cache, later, earlier, keys.prefix + kind, main))
              for (b, _), earlier, later in zip(marks, states, states[1:])]
    return starts[0], entries, points


def _point(cache: CopyCache, later: State | None, earlier: State | None, where: str,
           main: str) -> list[float] | None:
    """A series point between two states (kept when both are copies); None: unknown."""
    if earlier is None or later is None:
        return None
    if later.at is None or earlier.at is None:  # the last point ends at the live counters
        return point(later, earlier)
    return cached_point(cache, later, earlier, where, main, earlier.at, later.at)


def _type_entries(main: str, entries: list[list[Any]]) -> list[list[Any]]:
    """The entries listed in ``types``: every type with anything in the window, the
    one type asked for, or none (a queue)."""
    if main == SCOPE_ALL:
        return [e for e in entries[1:] if any(e[1:1 + len(SCALARS)])]
    return entries[:1] if main.startswith(_TYPE_PREFIX) else []


def get_performance(window: str | Window = DEFAULT_WINDOW, type: str | None = None,
                    queue: str | None = None, app: Any = None,
                    now: float | None = None) -> dict[str, Any]:
    """Outcomes, throughput, duration and queue-wait percentiles, resources and a series
    over ``window`` (``<n>m|h|d``, 5m up to the retention), per job type, in the shape
    of DESIGN.md.

    ``type`` narrows to one job type; ``queue`` reads one queue's totals and series
    (``types`` is then empty: the counters are per type or per queue, not both).
    Bad arguments raise InvalidParameter naming the parameter. A :class:`Window`
    parsed with a shorter minimum (``parse_window(..., shortest_s=60)``, as ``regiq top``)
    is checked against the retention only.
    """
    tracker = _tracker(app)
    retention = tracker.settings.metrics_retention_days
    parsed = (parse_window(window.text, retention, shortest_s=min(window.seconds, MIN_WINDOW_S))
              if isinstance(window, Window) else parse_window(window, retention))
    main = _main_scope(type, queue)
    now = time.time() if now is None else now
    with reachable("get_performance"):
        start, entries, points = _read(tracker, parsed, main, now)
    began = float(start.at) if start.at is not None else None
    span = now - began if began is not None else parsed.seconds
    return {"window": parsed.text, "from": iso(began), "to": iso(now),
            "step_s": parsed.series_step_s,
            "totals": summarize(entries[0], span),
            "types": [{"type": e[0][len(_TYPE_PREFIX):], **summarize(e, span)}
                      for e in _type_entries(main, entries)],
            "series": [{"at": iso(b), **series_point(p)} for b, p in points]}


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
