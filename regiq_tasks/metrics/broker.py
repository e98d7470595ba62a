"""Queue depth and consumers, asked of the broker itself.

Depth. RabbitMQ (py-amqp): ``queue_declare(passive=True)`` on a channel of its own per
queue, whose ``message_count`` it is (a queue nobody declared yet answers NOT_FOUND: 0
messages, 0 consumers). Redis and kombu's other virtual transports: the channel's size
of the queue, which for Redis is the ``LLEN`` of the queue's list and of kombu's
priority sub-lists (``<queue>\\x06\\x16<priority>``), summed, under the transport's
``global_keyprefix``.

Consumers. RabbitMQ counts them (``consumer_count``). Redis has no such count, so it is
the number of workers whose ``active_queues`` (``celery inspect``, a 0.5 s broadcast)
name the queue, kept per app and process for :data:`CONSUMERS_TTL` seconds and
refreshed in a background thread, so that no reader ever waits on the broadcast: it is
null until the first answer, and after a failed one.

One broker connection is kept per app and process (opening one costs more than the
reading) and replaced once when it broke. A broker that cannot be reached leaves depth
and consumers null; the broker's health is ``GET /status/system/health``'s business.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from kombu.transport.virtual import Channel as VirtualChannel

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 1.0  # s to reach the broker for one reading
INSPECT_TIMEOUT = 0.5  # s the active_queues broadcast waits for replies
CONSUMERS_TTL = 5.0  # s a Redis broker's consumer counts are reused
_CACHE_ATTR = "_regiq_consumer_cache"  # app attributes of the per-process objects below
_READER_ATTR = "_regiq_broker_reader"
_lock = threading.Lock()
T = TypeVar("T")


@dataclass(frozen=True)
class QueueState:
    """A queue as the broker sees it; None where the broker could not say."""

    depth: int | None = None
    consumers: int | None = None


def broker_queues(app: Any, names: Sequence[str]) -> dict[str, QueueState]:
    """Depth and consumers of each queue of ``names`` (absent where unknown)."""
    if not names:
        return {}
    return broker_reader(app).read(names)


def broker_reader(app: Any) -> BrokerReader:
    """The broker reader of ``app`` in this process (made on first use)."""
    reader: BrokerReader = _per_app(app, _READER_ATTR, BrokerReader)
    return reader


class BrokerReader:
    """One broker connection per app and process, kept between readings (a new one
    costs more than the reading); readers take turns on it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._conn: Any = None
        self._lock = threading.Lock()

    def read(self, names: Sequence[str]) -> dict[str, QueueState]:
        """The queues' states ({} when the broker cannot be reached, logged)."""
        try:
            return self.probe(names)[1]
        except Exception as exc:  # kombu's and the transport's errors alike
            logger.warning("regiq: cannot read queue depths from the broker: %s", exc)
            return {}

    def probe(self, names: Sequence[str]) -> tuple[str, dict[str, QueueState]]:
        """The transport's name and the queues' states, read on the kept connection (one
        that broke is replaced once); raises when the broker cannot be reached."""
        return self.use(lambda conn: (str(conn.transport.driver_type),
                                      self._read(conn, names)))

    def use(self, fn: Callable[[Any], T]) -> T:
        """``fn(connection)`` on the kept connection, connected first (one that broke is
        replaced once); raises when the broker cannot be reached."""
        with self._lock:
            while True:
                kept = self._conn is not None
                try:
                    return fn(self._connected())
                except Exception:
                    self._drop()
                    if not kept:
                        raise

    def _connected(self) -> Any:
        if self._conn is None:
            conn = self.app.connection_for_read(connect_timeout=CONNECT_TIMEOUT)
            self._conn = conn
            conn.ensure_connection(max_retries=0)  # one attempt: a reader never waits
        return self._conn

    def _read(self, conn: Any, names: Sequence[str]) -> dict[str, QueueState]:
        channel = conn.default_channel
        if isinstance(channel, VirtualChannel):
            return _virtual(self.app, channel, names)
        return {name: _declared(conn, name) for name in names}

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.release()
            except Exception:  # a connection that is broken already
                pass


def _declared(conn: Any, name: str) -> QueueState:
    """Messages and consumers of an AMQP queue (a channel per queue: NOT_FOUND closes it)."""
    channel = conn.channel()
    try:
        ok = channel.queue_declare(queue=name, passive=True)
        return QueueState(int(ok.message_count), int(ok.consumer_count))
    except conn.channel_errors:
        return QueueState(0, 0)  # nobody declared it: nothing in it, nobody on it
    finally:
        _close_quietly(channel)


def _close_quietly(channel: Any) -> None:
    try:
        channel.close()
    except Exception:  # a channel the broker closed already
        pass


def _virtual(app: Any, channel: VirtualChannel, names: Sequence[str]) -> dict[str, QueueState]:
    """Sizes from a kombu virtual channel, consumers from the cached broadcast."""
    counts = consumer_cache(app).get()
    sizes = _redis_sizes(channel, names)
    if sizes is None:
        # _size is kombu's own reading of a virtual queue (queue_declare answers with it)
        sizes = [int(channel._size(name)) for name in names]
    return {name: QueueState(size, counts.get(name, 0) if counts is not None else None)
            for name, size in zip(names, sizes)}


def _redis_sizes(channel: Any, names: Sequence[str]) -> list[int] | None:
    """Every queue's size in one pipeline, as the Redis transport's ``_size`` reads one
    (LLEN of the list of each priority step); None for another transport."""
    q_for_pri = getattr(channel, "_q_for_pri", None)
    steps = getattr(channel, "priority_steps", None)
    if q_for_pri is None or not steps or not hasattr(channel, "conn_or_acquire"):
        return None
    with channel.conn_or_acquire() as client, client.pipeline() as pipe:
        for name in names:
            for step in steps:
                pipe.llen(q_for_pri(name, step))
        lengths = pipe.execute()
    per = len(steps)
    return [sum(int(n) for n in lengths[i * per:(i + 1) * per]) for i in range(len(names))]


class ConsumerCache:
    """Workers per queue from ``inspect().active_queues()``, refreshed in the background."""

    def __init__(self, app: Any, ttl: float = CONSUMERS_TTL) -> None:
        self.app = app
        self.ttl = ttl
        self._counts: dict[str, int] | None = None
        self._at = 0.0
        self._refreshing = False
        self._lock = threading.Lock()

    def get(self) -> dict[str, int] | None:
        """The latest counts (None before the first answer); starts a refresh when due."""
        with self._lock:
            due = not self._refreshing and time.monotonic() - self._at >= self.ttl
            if due:
                self._refreshing = True
            counts = self._counts
        if due:
            threading.Thread(target=self.refresh, name="regiq-consumers", daemon=True).start()
        return counts

    def refresh(self) -> None:
        """Ask the workers which queues they consume (blocks for INSPECT_TIMEOUT).

        The broadcast goes out on a connection of its own, closed after it, never one of
        the app's pool: its wait for replies ends by timeout, which on Redis leaves a
        BRPOP outstanding on the channel, and a process forked later (a worker replacing
        a pool process) would read that reply in kombu's after-fork cleanup from the
        socket the two share, so this process's broadcasts would hear nothing again.
        """
        counts: dict[str, int] | None
        try:
            with self.app.connection_for_write() as connection:
                replies = self.app.control.inspect(
                    timeout=INSPECT_TIMEOUT, connection=connection).active_queues() or {}
            counts = dict(Counter(q["name"] for queues in replies.values()
                                  for q in queues or () if q.get("name")))
        except Exception as exc:  # the broker may be down: say null
            logger.warning("regiq: cannot ask the workers for their queues: %s", exc)
            counts = None
        with self._lock:
            self._counts, self._at, self._refreshing = counts, time.monotonic(), False


def consumer_cache(app: Any) -> ConsumerCache:
    """The consumer cache of ``app`` in this process (made on first use)."""
    cache: ConsumerCache = _per_app(app, _CACHE_ATTR, ConsumerCache)
    return cache


def _per_app(app: Any, attr: str, factory: Callable[[Any], Any]) -> Any:
    """The object kept on ``app`` under ``attr`` for this process (made on first use)."""
    kept = app.__dict__.get(attr)
    if kept is None or kept[0] != os.getpid():
        with _lock:
            kept = app.__dict__.get(attr)
            if kept is None or kept[0] != os.getpid():
                kept = (os.getpid(), factory(app))
                setattr(app, attr, kept)
    return kept[1]
