"""The resource rules about workers and their hosts, read from the workers' samples.

- ``worker_offline`` (a worker, HIGH): a worker that sampled stopped sampling (``alive``
  false: 3 of its intervals without a sample). Clear when a worker of that name samples
  again; a worker gone from the samples with its alert open stays offline (a worker
  stopped on purpose removes itself and raises nothing).
- ``worker_memory`` (MEDIUM): a worker's process tree over ``REGIQ_ALERT_WORKER_RSS``
  bytes (0: off), or its host's memory over ``REGIQ_ALERT_HOST_MEMORY`` %, for
  ``REGIQ_ALERT_MEMORY_FOR`` s.
- ``host_cpu`` (MEDIUM): a host's CPU over ``REGIQ_ALERT_HOST_CPU`` % for
  ``REGIQ_ALERT_HOST_CPU_FOR`` s.
- ``disk_space`` (HIGH at ``REGIQ_ALERT_DISK`` %, CRITICAL at
  ``REGIQ_ALERT_DISK_CRITICAL`` %, each its own fingerprint): a disk path a worker
  samples, per host, for ``REGIQ_ALERT_DISK_FOR`` s.

A host is read from its most recent live worker; a host (or a worker) no live worker
reports any more reads as clear for the host and memory rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from regiq_tasks.alerts.models import Severity
from regiq_tasks.alerts.watch import Reading, over, watched
from regiq_tasks.tracking.tracker import Tracker

WORKER_OFFLINE, WORKER_MEMORY, HOST_CPU, DISK_SPACE = (
    "worker_offline", "worker_memory", "host_cpu", "disk_space")
GiB = 2**30


def either(*states: bool | None) -> bool | None:
    """Held if any holds, clear if all are clear, else cannot tell."""
    if any(s is True for s in states):
        return True
    return False if all(s is False for s in states) else None


def _hosts(workers: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each host of a live worker, as its most recent sample tells."""
    hosts: dict[str, dict[str, Any]] = {}
    for w in sorted((w for w in workers if w["alive"]), key=lambda w: w["last_seen"] or ""):
        host = w.get("host") or {}
        hosts[str(host.get("name") or w["name"])] = {**host, "worker": w["name"]}
    return hosts


def _gone(tracker: Tracker, rule: str, present: set[str], severity: Severity,
          after_s: float, what: str) -> Iterator[Reading]:
    for key in watched(tracker, rule):
        if key not in present:
            yield Reading(rule, key, False, severity, title="", after_s=after_s,
                          cleared=f"{key.split('|')[0]}: no live worker reports {what} any more")


def worker_offline(tracker: Tracker, workers: list[dict[str, Any]]) -> Iterator[Reading]:
    after = tracker.settings.alert_worker_offline_for
    for w in workers:
        name = w["name"]
        yield Reading(WORKER_OFFLINE, name, not w["alive"], Severity.HIGH,
                      title=f"worker {name} stopped sampling (last seen {w['last_seen']})",
                      cleared=f"worker {name} samples again", after_s=after, subject=name,
                      details={"worker": name, "last_seen": w["last_seen"],
                               "pool": w.get("pool"), "concurrency": w.get("concurrency")})


def worker_memory(tracker: Tracker, workers: list[dict[str, Any]],
                  hosts: dict[str, dict[str, Any]]) -> Iterator[Reading]:
    s = tracker.settings
    live = [w for w in workers if w["alive"]]
    if s.alert_worker_rss > 0:
        for w in live:
            rss = w.get("rss_bytes")
            yield Reading(WORKER_MEMORY, w["name"], over(rss, s.alert_worker_rss),
                          Severity.MEDIUM, after_s=s.alert_memory_for, subject=w["name"],
                          title=f"worker {w['name']} uses {(rss or 0) / GiB:.2f} GiB "
                                f"(over {s.alert_worker_rss / GiB:.2f} GiB)",
                          cleared=f"worker {w['name']} uses {(rss or 0) / GiB:.2f} GiB now",
                          details={"worker": w["name"], "rss_bytes": rss,
                                   "threshold_bytes": s.alert_worker_rss})
    for name, host in hosts.items():
        used = host.get("memory_percent")
        yield Reading(WORKER_MEMORY, f"host:{name}", over(used, s.alert_host_memory),
                      Severity.MEDIUM, after_s=s.alert_memory_for, subject=name,
                      title=f"host {name}: memory {used or 0:.0f}% used "
                            f"(over {s.alert_host_memory:g}%)",
                      cleared=f"host {name}: memory {used or 0:.0f}% used now",
                      details={"host": name, "worker": host["worker"],
                               "memory_percent": used, "threshold_percent": s.alert_host_memory})
    present = {w["name"] for w in live} | {f"host:{name}" for name in hosts}
    yield from _gone(tracker, WORKER_MEMORY, present, Severity.MEDIUM, s.alert_memory_for,
                     "its memory")


def host_cpu(tracker: Tracker, hosts: dict[str, dict[str, Any]]) -> Iterator[Reading]:
    s = tracker.settings
    for name, host in hosts.items():
        cpu = host.get("cpu_percent")
        yield Reading(HOST_CPU, name, over(cpu, s.alert_host_cpu), Severity.MEDIUM,
                      after_s=s.alert_host_cpu_for, subject=name,
                      title=f"host {name}: CPU {cpu or 0:.0f}% (over {s.alert_host_cpu:g}%)",
                      cleared=f"host {name}: CPU {cpu or 0:.0f}% now",
                      details={"host": name, "worker": host["worker"], "cpu_percent": cpu,
                               "load_1m": host.get("load_1m"),
                               "threshold_percent": s.alert_host_cpu})
    yield from _gone(tracker, HOST_CPU, set(hosts), Severity.MEDIUM, s.alert_host_cpu_for,
                     "its CPU")


def disk_space(tracker: Tracker, hosts: dict[str, dict[str, Any]]) -> Iterator[Reading]:
    s = tracker.settings
    present: set[str] = set()
    levels = ((Severity.HIGH, s.alert_disk, ""), (Severity.CRITICAL, s.alert_disk_critical,
                                                   "|critical"))
    for name, host in hosts.items():
        for disk in host.get("disk") or []:
            used, path = disk.get("used_percent"), str(disk.get("path"))
            for severity, threshold, suffix in levels:
                key = f"{name}:{path}{suffix}"
                present.add(key)
                yield Reading(DISK_SPACE, key, over(used, threshold), severity,
                              after_s=s.alert_disk_for, subject=name,
                              title=f"host {name}: {path} is {used or 0:.0f}% full "
                                    f"(over {threshold:g}%)",
                              cleared=f"host {name}: {path} is {used or 0:.0f}% full now",
                              details={"host": name, "worker": host["worker"], "path": path,
                                       "used_percent": used,
                                       "free_bytes": disk.get("free_bytes"),
                                       "threshold_percent": threshold})
    for severity in (Severity.HIGH, Severity.CRITICAL):
        yield from (r for r in _gone(tracker, DISK_SPACE, present, severity, s.alert_disk_for,
                                     "this disk")
                    if r.key.endswith("|critical") == (severity is Severity.CRITICAL))


def worker_readings(tracker: Tracker, workers: list[dict[str, Any]]) -> Iterator[Reading]:
    """Every worker and host rule's readings from the workers' documents."""
    hosts = _hosts(workers)
    yield from worker_offline(tracker, workers)
    yield from worker_memory(tracker, workers, hosts)
    yield from host_cpu(tracker, hosts)
    yield from disk_space(tracker, hosts)
