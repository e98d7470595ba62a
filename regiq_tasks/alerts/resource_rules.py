"""The resource rules: what the watch duty reads every ``REGIQ_ALERT_WATCH_INTERVAL`` s
(the rules about workers and hosts are in :mod:`regiq_tasks.alerts.worker_rules`).

Each rule turns what is true now into :class:`~regiq_tasks.alerts.watch.Reading` s, one
per thing it is about (a queue, a worker, a disk). A value at or over its threshold
holds; below ``HYSTERESIS`` times the threshold it is clear; between the two the
condition stays as it was. A queue no longer listed is read as clear (nothing waits on
it any more).

- ``queue_backlog`` (a queue, MEDIUM): its oldest queued tracked job waits
  ``REGIQ_ALERT_QUEUE_WAIT`` s;
- ``no_consumer`` (a queue, HIGH): tracked jobs wait on it and no worker consumes it;
- ``archive_lag`` (the archiver, HIGH): a finished job waits over ``REGIQ_ARCHIVE_LAG`` s
  for the history;
- ``job_slow`` (a running job, LOW): :mod:`regiq_tasks.alerts.slow_rules`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from regiq_tasks.alerts.models import Severity
from regiq_tasks.alerts.slow_rules import slow_jobs
from regiq_tasks.alerts.watch import Reading, over, watch, watched
from regiq_tasks.alerts.worker_rules import worker_readings
from regiq_tasks.config import Settings
from regiq_tasks.resources.workers import all_workers
from regiq_tasks.tracking.tracker import Tracker

logger = logging.getLogger(__name__)

QUEUE_BACKLOG, NO_CONSUMER, ARCHIVE_LAG = "queue_backlog", "no_consumer", "archive_lag"


def _queues(tracker: Tracker) -> list[dict[str, Any]]:
    from regiq_tasks.metrics.realtime import snapshot

    queues: list[dict[str, Any]] = snapshot(tracker.app)["queues"]
    return queues


def _unlisted(tracker: Tracker, rule: str, listed: set[str]) -> list[str]:
    return [key for key in watched(tracker, rule) if key not in listed]


def queue_backlog(tracker: Tracker, queues: list[dict[str, Any]]) -> Iterator[Reading]:
    s = tracker.settings
    for q in queues:
        wait = q["oldest_wait_s"]
        yield Reading(QUEUE_BACKLOG, q["name"], over(wait, s.alert_queue_wait), Severity.MEDIUM,
                      title=f"queue {q['name']}: the oldest job waits {wait or 0:.0f} s "
                            f"(over {s.alert_queue_wait:g} s)",
                      cleared=f"queue {q['name']}: the oldest job waits "
                              f"{'nothing' if wait is None else f'{wait:.0f} s'} now",
                      after_s=s.alert_queue_wait_for, subject=q["name"],
                      details={"queue": q["name"], "oldest_wait_s": wait, "depth": q["depth"],
                               "consumers": q["consumers"], "threshold_s": s.alert_queue_wait})
    for name in _unlisted(tracker, QUEUE_BACKLOG, {q["name"] for q in queues}):
        yield Reading(QUEUE_BACKLOG, name, False, Severity.MEDIUM, title="",
                      cleared=f"queue {name}: no job waits on it now",
                      after_s=s.alert_queue_wait_for)


def no_consumer(tracker: Tracker, queues: list[dict[str, Any]]) -> Iterator[Reading]:
    s = tracker.settings
    for q in queues:
        waiting, consumers = q["oldest_wait_s"] is not None, q["consumers"]
        held = None if consumers is None and waiting else waiting and consumers == 0
        yield Reading(NO_CONSUMER, q["name"], held, Severity.HIGH,
                      title=f"queue {q['name']}: jobs wait and no worker consumes it",
                      cleared=f"queue {q['name']}: " + (
                          f"{consumers} worker(s) consume it now" if consumers
                          else "no job waits on it now"),
                      after_s=s.alert_no_consumer_for, subject=q["name"],
                      details={"queue": q["name"], "depth": q["depth"],
                               "oldest_wait_s": q["oldest_wait_s"]})
    for name in _unlisted(tracker, NO_CONSUMER, {q["name"] for q in queues}):
        yield Reading(NO_CONSUMER, name, False, Severity.HIGH, title="",
                      cleared=f"queue {name}: no job waits on it now",
                      after_s=s.alert_no_consumer_for)


def archive_lag(tracker: Tracker) -> Iterator[Reading]:
    from regiq_tasks.health.components import Probe, check_archiver

    s: Settings = tracker.settings
    figures = check_archiver(Probe(tracker.app, tracker)).figures
    oldest, backlog = figures["oldest_pending_s"], figures["backlog"]
    yield Reading(ARCHIVE_LAG, "history", over(oldest, s.archive_lag), Severity.HIGH,
                  title=f"archiver: {backlog} finished jobs wait for the history, the oldest "
                        f"for {oldest or 0:.0f} s (over {s.archive_lag:g} s)",
                  cleared=f"archiver: {backlog} finished jobs wait now, the oldest for "
                          f"{oldest or 0:.0f} s",
                  after_s=s.alert_archive_lag_for, subject="history",
                  details={"backlog": backlog, "oldest_pending_s": oldest,
                           "threshold_s": s.archive_lag})


def readings(tracker: Tracker) -> list[Reading]:
    """Every resource rule's readings now (a rule that cannot read says nothing)."""
    found: list[Reading] = []
    sources: list[tuple[str, Callable[[], Iterator[Reading]]]] = [
        ("archive_lag", lambda: archive_lag(tracker)),
        ("workers", lambda: worker_readings(tracker, all_workers(tracker.app))),
        ("job_slow", lambda: slow_jobs(tracker))]
    try:
        queues = _queues(tracker)
        sources += [("queue_backlog", lambda: queue_backlog(tracker, queues)),
                    ("no_consumer", lambda: no_consumer(tracker, queues))]
    except Exception:
        logger.warning("regiq: resource alerts cannot read the queues", exc_info=True)
    for name, source in sources:
        try:
            found.extend(source())
        except Exception:
            logger.warning("regiq: resource rule %s cannot read (will retry)", name,
                           exc_info=True)
    return found


def watch_resources(tracker: Tracker) -> int:
    """The housekeeping duty: read, then raise and resolve; returns the alerts announced."""
    try:
        return len(watch(tracker, readings(tracker)))
    except Exception:
        logger.warning("regiq: resource alerts failed (will retry)", exc_info=True)
        return 0
