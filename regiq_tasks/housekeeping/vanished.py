"""Queued jobs whose task message the broker no longer holds end ``lost``.

kombu's Redis transport takes a message off its queue's list (``BRPOP``) before it
writes it into its hash of unacknowledged messages. A worker killed in between (the
reply popped by Redis, still in the dead worker's socket) loses that message for good,
and so does a Redis broker that restarts without it on disk: no worker ever runs the
job, and it would stay ``queued`` forever.

So a duty (lease ``vanished``, one worker at a time) looks at the queued jobs older than
``message_lost_after`` that no worker has accepted and that were sent to a queue some
live worker consumes, and asks the broker whether any message still names them, in any
of those queues (every priority step's list) or among the unacknowledged ones (ETA and
prefetched messages live there): ``broker_holds.lua``. A job found nowhere, twice
``check_interval`` apart, ends ``lost`` with ``MessageLost``: the reaper's ``lost``, with
the same hooks (alerts, metrics) and a history row. The change applies only while the
job is still queued and unaccepted, so a worker that takes the message meanwhile wins.

A job sent with a routing key that names no consumed queue (a queue nobody consumes, or
a custom exchange's routing) is never judged; nor are any when the queues hold more than
``SCAN_LIMIT`` messages (a later pass will). RabbitMQ gives a dead consumer's messages
back by itself, so other transports are left alone.
"""

from __future__ import annotations

import logging
import time
import weakref
from functools import partial
from typing import Any

from regiq_tasks.housekeeping.lost import end_lost
from regiq_tasks.metrics.broker import broker_reader, consumer_cache
from regiq_tasks.store import bare_script
from regiq_tasks.tracking.tracker import Tracker

logger = logging.getLogger(__name__)

# messages a pass reads at most (lists and unacknowledged, in one script: Redis waits for
# it, about 8 us per Celery message of 2.4 kB, so 40 ms at this limit; docs/benchmarks.md)
SCAN_LIMIT = 5_000
CANDIDATES = 500  # queued jobs a pass judges at most, oldest first
PAGES = 10  # pages of CANDIDATES queued jobs a pass reads at most to find them
_HOLDS = bare_script("broker_holds.lua")
# job id -> when a pass first found its message missing, per tracker
_missing: weakref.WeakKeyDictionary[Tracker, dict[str, float]] = weakref.WeakKeyDictionary()


def check_interval(settings: Any) -> float:
    """Seconds between passes: half of ``message_lost_after``, at most 10."""
    return min(10.0, settings.message_lost_after / 2)


def held(connection: Any, queues: list[str], job_ids: list[str]) -> set[str] | None:
    """Which of ``job_ids`` a message in ``queues`` or among the unacknowledged ones on
    this kombu connection still names; None when the channel is not kombu's Redis one
    (:func:`redis_broker` has asked already) or the queues hold too many messages to
    read now."""
    channel = connection.default_channel
    q_for_pri = getattr(channel, "_q_for_pri", None)
    unacked = getattr(channel, "unacked_key", None)
    if q_for_pri is None or not unacked:
        return None
    prefix = getattr(channel, "global_keyprefix", "") or ""
    keys = [prefix + q_for_pri(queue, step) for queue in queues for step in channel.priority_steps]
    keys.append(prefix + unacked)
    found = channel.client.execute_command("EVAL", _HOLDS, len(keys), *keys,
                                           SCAN_LIMIT, *job_ids)
    if found == -1:
        logger.info("regiq: the queues hold over %d messages: none searched for lost ones",
                    SCAN_LIMIT)
        return None
    if found == -2:
        logger.warning("regiq: a message in %s names no job id where Celery puts it: no "
                       "queued job is judged lost", ", ".join(queues))
        return None
    return {x.decode() if isinstance(x, bytes) else str(x) for x in found}


def _ask_broker(tracker: Tracker, queues: list[str], job_ids: list[str]) -> set[str] | None:
    """:func:`held` on the app's kept broker connection; None (logged) when the broker
    cannot be reached: nothing is judged then."""
    try:
        return broker_reader(tracker.app).use(partial(held, queues=queues, job_ids=job_ids))
    except Exception as exc:  # kombu's and the transport's errors alike
        logger.warning("regiq: cannot search the broker for queued jobs' messages: %s", exc)
        return None


def redis_broker(app: Any) -> bool:
    """Whether the app's broker is kombu's Redis transport (Sentinel included)."""
    with app.connection_for_read() as connection:  # not connected: the transport's name
        return bool(connection.transport.driver_type == "redis")


def _candidates(tracker: Tracker, created_before: float) -> tuple[list[str], list[str]]:
    """The queues live workers consume, and up to CANDIDATES of the jobs queued on them
    before ``created_before``, oldest first (read a page at a time, at most PAGES pages:
    old jobs on queues nobody consumes do not hide the others)."""
    consumed: list[str] | None = None
    ids: list[str] = []
    if not redis_broker(tracker.app):
        return [], []
    for page in range(PAGES):
        read, jobs = tracker.store.queued_before(created_before, CANDIDATES, page * CANDIDATES)
        if jobs and consumed is None:  # a broadcast (cached): asked only when needed
            consumed = sorted(consumer_cache(tracker.app).get() or {})
        ids += [job_id for job_id, queue in jobs if queue in (consumed or ())]
        if read < CANDIDATES or len(ids) >= CANDIDATES or not consumed:
            break
    return consumed or [], ids[:CANDIDATES]


def check_vanished(tracker: Tracker) -> int:
    """One pass: end ``lost`` the queued jobs whose message was missing in two passes;
    returns how many."""
    now = time.time()
    seen = _missing.setdefault(tracker, {})
    consumed, ids = _candidates(tracker, now - tracker.settings.message_lost_after)
    found = _ask_broker(tracker, consumed, ids) if ids else None
    if found is None:
        seen.clear()
        return 0
    missing = {job_id: seen.get(job_id, now) for job_id in ids if job_id not in found}
    seen.clear()
    seen.update(missing)
    due = [job_id for job_id, since in missing.items() if since < now]
    if not due:
        return 0
    lost = end_lost(tracker, due, {
        "type": "MessageLost",
        "message": "the broker no longer holds this job's task message (taken off the "
                   "queue by a worker that died before it recorded the message, or lost "
                   "by a broker restart); no worker ran it",
        "traceback": None}, reap_queued=True)
    for job_id in due:
        seen.pop(job_id, None)
    if lost:
        logger.warning("regiq: %d queued job(s) lost: the broker no longer holds their "
                       "messages", lost)
    return lost
