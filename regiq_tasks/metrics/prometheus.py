"""The Prometheus exposition of ``GET /metrics``: one collector reading Redis and SQL.

Everything is read at scrape time from the shared stores, never from process-local
counters, so every monitor process answers the same. A scrape reads the live store
once (:class:`~regiq_tasks.metrics.realtime.LiveScan`) and hands it, with the app, to
each function of :data:`FAMILIES`; a new family is one more small function there.

=====================================  =======  =========================================
family                                 type     source
=====================================  =======  =========================================
``regiq_live_jobs{status,type}``       gauge    live jobs now: per type for the active
                                                statuses; ``type=""`` counts what is not
                                                broken down by type (every final job
                                                still in the live store, active jobs past
                                                the scan cap), so ``sum by (status)`` is
                                                the status index's size
``regiq_queue_depth{queue}``           gauge    messages in the broker's queue (absent
                                                while the broker cannot be read)
``regiq_queue_oldest_wait_seconds``    gauge    age of the queue's oldest queued tracked
``{queue}``                                     job (0 when none waits)
``regiq_archive_backlog``              gauge    finished jobs waiting for the history
                                                (``XLEN P archive``: the archiver deletes
                                                entries once committed)
``regiq_alerts_open{severity}``        gauge    open alert rows (absent while the history
                                                database cannot be read)
``regiq_worker_up{worker}``            gauge    1 while the worker samples itself, 0 once
                                                it stopped (until it is gone)
``regiq_worker_cpu_percent{worker}``   gauge    the worker's latest sample (alive workers
``regiq_worker_rss_bytes{worker}``              only): CPU % of one core and RSS of its
``regiq_worker_busy{worker}``                   process tree, tasks it runs now
``regiq_host_memory_used_ratio``       gauge    its host's memory in use, 0-1
``{worker}``
``regiq_host_disk_used_ratio``         gauge    disk use of each sampled path, 0-1
``{worker,path}``
``regiq_jobs_total{type,status}``      counter  jobs that reached a final status
                                                (succeeded, failed, cancelled, lost)
``regiq_job_duration_seconds{type}``   histo-   run time of the finished jobs
                                       gram
``regiq_job_queue_wait_seconds``       histo-   publish-to-start wait of the started jobs
``{type}``                             gram
=====================================  =======  =========================================

The last three (:func:`cumulative`) come from the never-reset per-type hashes ``P
m:cum:t:<type>`` the store's ``record_metrics`` writes (``store/keys.py``: fields
``n:<outcome>``, ``d:<i>``/``w:<i>`` bucket counts, ``ds``/``ws`` sums in integer µs),
listed in ``P m:scopes``; :func:`cumulative_metrics` turns ``{type: fields}`` into the
families (sums in seconds, buckets at the histogram's Prometheus bounds).

A Redis error fails the scrape (the route answers 503: Prometheus records the target
down); the broker and the database feed one family each and only leave it out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry
from prometheus_client.utils import floatToGoString

from regiq_tasks.alerts.stats import open_by_severity
from regiq_tasks.errors import StoreUnavailable, reachable
from regiq_tasks.metrics.histogram import Histogram, HistogramKind, counts_from_fields
from regiq_tasks.metrics.realtime import ACTIVE, LiveScan, live_counter, queue_rows
from regiq_tasks.resources.workers import all_workers
from regiq_tasks.store.keys import type_scope
from regiq_tasks.store.record import as_text
from regiq_tasks.tracking.tracker import Tracker, get_tracker

logger = logging.getLogger(__name__)

# The final outcomes counted by regiq_jobs_total (fields n:<outcome>); n:retried is left
# out, so that the family's sum is the number of finished jobs (a retried job ends later).
OUTCOMES = ("succeeded", "failed", "cancelled", "lost")
UNTYPED = ""  # the type label of live jobs not broken down by type
MICROS = 1_000_000  # the cumulative sums ds/ws are integer microseconds
_TYPE_SCOPE = type_scope("")  # "t:", the prefix of the per-type metric scopes


@dataclass(frozen=True)
class Scrape:
    """What one scrape reads once and every family may use."""

    app: Any
    tracker: Tracker
    scan: LiveScan


def live_jobs(scrape: Scrape) -> Iterator[Metric]:
    """``regiq_live_jobs{status,type}``."""
    family = GaugeMetricFamily("regiq_live_jobs", "Jobs in the live store now, by status "
                               "and type (type=\"\": not broken down by type)",
                               labels=["status", "type"])
    active = {s.value for s in ACTIVE}
    for status, total in scrape.scan.jobs.items():
        typed = 0
        if status in active:
            for job_type, counts in sorted(scrape.scan.by_type.items()):
                family.add_metric([status, job_type], counts[status])
                typed += counts[status]
        family.add_metric([status, UNTYPED], max(0, total - typed))
    yield family


def queue_metrics(scrape: Scrape) -> Iterator[Metric]:
    """``regiq_queue_depth{queue}`` and ``regiq_queue_oldest_wait_seconds{queue}``."""
    depth = GaugeMetricFamily("regiq_queue_depth", "Messages waiting in the broker's queue",
                              labels=["queue"])
    wait = GaugeMetricFamily("regiq_queue_oldest_wait_seconds",
                             "Age of the oldest queued tracked job of the queue",
                             labels=["queue"], unit="seconds")
    for row in queue_rows(scrape.app, scrape.scan):
        if row["depth"] is not None:
            depth.add_metric([row["name"]], row["depth"])
        wait.add_metric([row["name"]], row["oldest_wait_s"] or 0.0)
    yield depth
    yield wait


def archive_backlog(scrape: Scrape) -> Iterator[Metric]:
    """``regiq_archive_backlog``."""
    backlog = scrape.tracker.redis.xlen(scrape.tracker.keys.archive)
    yield GaugeMetricFamily("regiq_archive_backlog",
                            "Finished jobs waiting to be archived into the history",
                            value=int(backlog))


def alerts_open(scrape: Scrape) -> Iterator[Metric]:
    """``regiq_alerts_open{severity}`` (left out while the database cannot be read)."""
    try:
        with reachable("metrics"):
            counts = open_by_severity(scrape.tracker.existing_engine)
    except StoreUnavailable as exc:
        logger.warning("regiq: /metrics leaves out regiq_alerts_open: %s", exc.summary)
        return
    family = GaugeMetricFamily("regiq_alerts_open", "Open alerts by severity",
                               labels=["severity"])
    for severity, n in counts.items():
        family.add_metric([severity], n)
    yield family


def cumulative(scrape: Scrape) -> Iterator[Metric]:
    """``regiq_jobs_total`` and the two histograms, from every type scope's hash."""
    client, keys = scrape.tracker.redis, scrape.tracker.keys
    raw: Any = client.smembers(keys.metrics_scopes)
    types = sorted(name[len(_TYPE_SCOPE):] for name in map(as_text, raw)
                   if name.startswith(_TYPE_SCOPE))
    pipe = client.pipeline(transaction=False)
    for job_type in types:
        pipe.hgetall(keys.metrics_cum(type_scope(job_type)))
    hashes = dict(zip(types, pipe.execute())) if types else {}
    yield from cumulative_metrics({t: f for t, f in hashes.items() if f})


def worker_metrics(scrape: Scrape) -> Iterator[Metric]:
    """``regiq_worker_*`` and ``regiq_host_*`` from the workers' latest samples."""
    up = GaugeMetricFamily("regiq_worker_up", "1 while the worker samples its resources",
                           labels=["worker"])
    cpu = GaugeMetricFamily("regiq_worker_cpu_percent",
                            "CPU use of the worker's process tree, percent of one core",
                            labels=["worker"])
    rss = GaugeMetricFamily("regiq_worker_rss_bytes",
                            "Resident memory of the worker's process tree",
                            labels=["worker"], unit="bytes")
    busy = GaugeMetricFamily("regiq_worker_busy", "Tasks the worker runs now",
                             labels=["worker"])
    memory = GaugeMetricFamily("regiq_host_memory_used_ratio",
                               "Memory in use on the worker's host", labels=["worker"])
    disk = GaugeMetricFamily("regiq_host_disk_used_ratio",
                             "Disk use of a sampled path on the worker's host",
                             labels=["worker", "path"])
    for worker in all_workers(scrape.app):
        name = worker["name"]
        up.add_metric([name], 1 if worker["alive"] else 0)
        if not worker["alive"]:
            continue  # a stopped worker's last figures are not current
        figures: tuple[tuple[GaugeMetricFamily, Any], ...] = (
            (cpu, worker["cpu_percent"]), (rss, worker["rss_bytes"]),
            (busy, worker["busy"]), (memory, _ratio(worker["host"].get("memory_percent"))))
        for family, value in figures:
            if value is not None:
                family.add_metric([name], value)
        for entry in worker["host"].get("disk") or []:
            if entry.get("used_percent") is not None:
                disk.add_metric([name, entry["path"]], entry["used_percent"] / 100.0)
    yield from (up, cpu, rss, busy, memory, disk)


def _ratio(percent: float | None) -> float | None:
    return None if percent is None else percent / 100.0


FAMILIES: tuple[Callable[[Scrape], Iterable[Metric]], ...] = (
    live_jobs, queue_metrics, archive_backlog, alerts_open, cumulative, worker_metrics)



def _number(value: Any) -> float:
    return float(as_text(value))


def _field(fields: Mapping[Any, Any], name: str) -> Any:
    return fields.get(name, fields.get(name.encode()))


def cumulative_metrics(hashes: Mapping[str, Mapping[Any, Any]]) -> list[Metric]:
    """The counter and the two histograms of the cumulative hashes, ``{type: fields}``.

    ``ds``/``ws`` are integer microseconds (as ``record_metrics`` adds them); the
    families' ``_sum`` are seconds.
    """
    total = CounterMetricFamily("regiq_jobs", "Jobs that reached a final status, by type",
                                labels=["type", "status"])
    duration = HistogramMetricFamily("regiq_job_duration_seconds", "Job run time",
                                     labels=["type"])
    wait = HistogramMetricFamily("regiq_job_queue_wait_seconds",
                                 "Time from publish to start", labels=["type"])
    for job_type, fields in sorted(hashes.items()):
        for outcome in OUTCOMES:
            total.add_metric([job_type, outcome], _number(_field(fields, f"n:{outcome}") or 0))
        for family, kind, sum_field in ((duration, HistogramKind.DURATION, "ds"),
                                        (wait, HistogramKind.WAIT, "ws")):
            hist = Histogram(counts_from_fields(fields, kind))
            buckets = [(floatToGoString(le), float(n)) for le, n in hist.prometheus_buckets()]
            sum_s = _number(_field(fields, sum_field) or 0) / MICROS
            family.add_metric([job_type], buckets, sum_s)
    return [total, duration, wait]


class RegiqCollector:
    """A prometheus_client collector over one Celery app's stores."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        """Every family, from one read of the live store."""
        tracker = get_tracker(self.app)
        scrape = Scrape(self.app, tracker, live_counter(self.app).read())
        for family in FAMILIES:
            yield from family(scrape)


def render(app: Any) -> bytes:
    """The text exposition of ``app``'s metrics (Redis errors become StoreUnavailable)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RegiqCollector(app))  # type: ignore[arg-type]
    with reachable("metrics"):
        return generate_latest(registry)
