"""One check per component of ``GET /status/system/health`` (DESIGN.md, "Health").

Each check takes a :class:`Probe` (the app, its tracker and settings) and returns a
:class:`Component`: its status (``ok``, ``degraded`` or ``down``), the figures it read
and the reasons in words, each starting with the component's name. A check only reads;
it raises when its dependency fails, and :mod:`regiq_tasks.health.report` turns that
(or no answer within the timeout) into a ``down`` component.

What each one says:

- ``redis``: PING latency, ``used_memory``, ``maxmemory-policy`` (an ``allkeys-*``
  policy can evict live jobs: degraded) and persistence (``aof``, ``rdb`` or ``none``;
  ``none`` loses every live job on a restart: degraded).
- ``database``: a ``SELECT 1`` through the readers' engine (which never creates the
  database) and the schema against the newest migration shipped (``current``; else
  ``behind``, degraded). A database without the schema is down.
- ``broker``: a read of the alert queue's depth on the connection the metrics keep to
  the broker (replaced once when it broke): latency, transport.
- ``archiver``: finished jobs waiting in the archive stream and the age of the oldest
  (older than ``REGIQ_ARCHIVE_LAG``, 60 s: degraded).
- ``alert_queue``: workers consuming ``REGIQ_ALERT_QUEUE`` (none: degraded, the alerts
  wait; null when the broker cannot say).
- ``workers``: the workers' resource samples: how many are alive (none: down), those
  that stopped sampling (``stale``: degraded) and hosts whose memory is over
  ``REGIQ_ALERT_HOST_MEMORY`` (degraded).
- ``disk``: the fullest disk path any live worker samples (``worst``); at or over
  ``REGIQ_ALERT_DISK``: degraded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import ResponseError
from sqlalchemy import text

from regiq_tasks.config import Settings
from regiq_tasks.tracking.tracker import Tracker

OK, DEGRADED, DOWN = "ok", "degraded", "down"
_RANK = {OK: 0, DEGRADED: 1, DOWN: 2}
SAFE_POLICIES = ("noeviction", "volatile-")  # evict nothing, or only keys with a TTL


@dataclass
class Component:
    """What one check found: a status, its figures and the reasons for the status."""

    status: str = OK
    figures: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    def worse(self, status: str, reason: str) -> None:
        """Lower the status to ``status`` (never raise it) and say why."""
        if _RANK[status] > _RANK[self.status]:
            self.status = status
        self.reasons.append(reason)

    def document(self) -> dict[str, Any]:
        return {"status": self.status, **self.figures}


def worst(statuses: list[str]) -> str:
    """The worst of ``statuses`` (``ok`` for none)."""
    return max(statuses, key=_RANK.__getitem__, default=OK)


@dataclass
class Probe:
    """What the checks read from."""

    app: Any
    tracker: Tracker
    _workers: list[dict[str, Any]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def settings(self) -> Settings:
        return self.tracker.settings

    def workers(self) -> list[dict[str, Any]]:
        """The workers' latest samples, read once per report: the checks that look at
        them (workers, disk) agree on who is alive."""
        with self._lock:
            if self._workers is None:
                from regiq_tasks.resources.workers import all_workers

                self._workers = all_workers(self.app)
            return self._workers


def _ms_since(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)


def check_redis(probe: Probe) -> Component:
    client = probe.tracker.redis
    t0 = time.perf_counter()
    client.ping()
    latency = _ms_since(t0)
    memory: Any = client.info("memory")
    persistence: Any = client.info("persistence")
    policy = str(memory.get("maxmemory_policy", "unknown"))
    kept = _persistence(client, persistence)
    found = Component(figures={"latency_ms": latency,
                               "used_memory_bytes": int(memory.get("used_memory", 0)),
                               "maxmemory_policy": policy, "persistence": kept})
    if not policy.startswith(SAFE_POLICIES):
        found.worse(DEGRADED, f"redis: maxmemory-policy {policy} can evict live jobs "
                              "(use noeviction)")
    if kept == "none":
        found.worse(DEGRADED, "redis: keeps nothing on disk (no AOF, no RDB snapshots), so a "
                              "restart loses every live job (set appendonly yes)")
    return found


def _persistence(client: Any, info: Any) -> str:
    """``aof``, ``rdb``, ``none``, or ``unknown`` where CONFIG is not allowed."""
    if int(info.get("aof_enabled", 0)):
        return "aof"
    try:
        save: Any = client.config_get("save")
    except ResponseError:  # managed Redis often refuses CONFIG: it cannot be told
        return "unknown"
    return "rdb" if str(save.get("save", "")).strip() else "none"


def check_database(probe: Probe) -> Component:
    from regiq_tasks.history.db import head_revision, schema_revision

    engine = probe.tracker.existing_engine  # HistoryNotFound: no schema, down
    t0 = time.perf_counter()
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    latency = _ms_since(t0)
    revision, head = schema_revision(engine), head_revision()
    schema = "current" if revision == head else "behind"
    found = Component(figures={"latency_ms": latency, "schema": schema})
    if schema != "current":
        found.worse(DEGRADED, f"database: the history schema is at {revision}, the code "
                              f"expects {head} (run regiq db upgrade)")
    return found


def check_broker(probe: Probe) -> Component:
    from regiq_tasks.metrics.broker import broker_reader

    t0 = time.perf_counter()  # a read of the alert queue on the kept broker connection
    transport, _states = broker_reader(probe.app).probe([probe.settings.alert_queue])
    return Component(figures={"latency_ms": _ms_since(t0), "transport": transport})


def check_archiver(probe: Probe) -> Component:
    client, keys = probe.tracker.redis, probe.tracker.keys
    pipe = client.pipeline(transaction=False)
    pipe.xlen(keys.archive)
    pipe.xrange(keys.archive, count=1)
    backlog, first = pipe.execute()
    oldest = None
    if first:
        entry_ms = int(first[0][0].split(b"-")[0])  # a stream id is "<ms>-<seq>"
        oldest = round(max(0.0, time.time() - entry_ms / 1000), 1)
    found = Component(figures={"backlog": int(backlog), "oldest_pending_s": oldest})
    lag = probe.settings.archive_lag
    if oldest is not None and oldest > lag:
        found.worse(DEGRADED, f"archiver: {backlog} finished jobs wait for the history, "
                              f"the oldest for {oldest:.0f} s")
    return found


def check_alert_queue(probe: Probe) -> Component:
    from regiq_tasks.metrics.broker import broker_queues, consumer_cache

    name = probe.settings.alert_queue
    consumers = broker_queues(probe.app, [name]).get(name)
    count = consumers.consumers if consumers is not None else None
    if count is None and consumers is not None:  # a Redis broker not asked yet: ask now
        cache = consumer_cache(probe.app)
        cache.refresh()
        counts = cache.get()
        count = None if counts is None else counts.get(name, 0)
    found = Component(figures={"queue": name, "consumers": count})
    if count == 0:
        found.worse(DEGRADED, f"alert_queue: no worker consumes {name}, so alerts are "
                              f"neither raised nor sent (start one with -Q {name})")
    elif count is None:
        found.worse(DEGRADED, f"alert_queue: the broker cannot say who consumes {name}")
    return found


def check_workers(probe: Probe) -> Component:
    workers = probe.workers()
    alive = [w for w in workers if w["alive"]]
    stale = sorted(w["name"] for w in workers if not w["alive"])
    found = Component(figures={"alive": len(alive), "stale": stale})
    if not alive:
        found.worse(DOWN, "workers: no live worker samples itself, so no job runs")
    for name in stale:
        found.worse(DEGRADED, f"workers: {name} stopped sampling")
    limit = probe.settings.alert_host_memory
    hosts = {str((w["host"] or {}).get("name") or w["name"]): w["host"] or {} for w in alive}
    for host, figures in sorted(hosts.items()):
        used = figures.get("memory_percent")
        if used is not None and used >= limit:
            found.worse(DEGRADED, f"workers: host {host} uses {used:.0f}% of its memory "
                                  f"(over {limit:g}%)")
    return found


def check_disk(probe: Probe) -> Component:
    disks = [(d.get("used_percent"), w["name"], d.get("path"))
             for w in probe.workers() if w["alive"]
             for d in (w["host"] or {}).get("disk") or [] if d.get("used_percent") is not None]
    if not disks:
        return Component(figures={"worst": None})
    used, worker, path = max(disks, key=lambda d: d[0])
    found = Component(figures={"worst": {"worker": worker, "path": path,
                                         "used_percent": used}})
    if used >= probe.settings.alert_disk:
        found.worse(DEGRADED, f"disk: {path} of {worker} is {used:.0f}% full "
                              f"(over {probe.settings.alert_disk:g}%)")
    return found


# The components in the order of the document, and those whose loss is ``down``.
CHECKS: dict[str, Callable[[Probe], Component]] = {
    "redis": check_redis, "database": check_database, "broker": check_broker,
    "workers": check_workers, "archiver": check_archiver, "alert_queue": check_alert_queue,
    "disk": check_disk,
}
ESSENTIAL = frozenset({"redis", "database", "broker", "workers"})
