"""Cancel requests pushed to the process that runs the job (``P cancels``).

``cancel.lua`` publishes ``<terminate 0|1>:<job id>`` when it records a cancel request
on a running job. Every process that runs tracked jobs listens on one pub/sub
connection, in a daemon thread started with its first job, and marks the job's runtime
cancelled at once: the task stops at its next ``progress()`` or ``check_cancelled()``
instead of at the next read-back of its flag. The read-back (``CancelWatch``, progress
flushes) stays as the fallback for messages published while this connection was down:
pub/sub keeps nothing for a listener that is away.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis

logger = logging.getLogger(__name__)

POLL_TIMEOUT = 1.0  # s: longest wait for a message (stop() takes effect after it)
MAX_BACKOFF = 5.0  # s between reconnection attempts while Redis is down


class CancelListener:
    """Listens for cancel requests of the jobs running in this process."""

    def __init__(self, tracker: Any) -> None:
        self.tracker = tracker
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.subscribed = threading.Event()  # set while the subscription is live (tests)
        self.received = 0  # messages about a job running here

    def start(self) -> None:
        """Start listening (idempotent; cheap enough for every job start)."""
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="regiq-cancels",
                                                daemon=True)
                self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end (within ``POLL_TIMEOUT``)."""
        self._stop.set()

    def _run(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            pubsub = self.tracker.redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.tracker.keys.cancel_channel)
                self.subscribed.set()
                backoff = 0.1
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=POLL_TIMEOUT)
                    if message is not None:
                        self.on_message(message.get("data"))
            except (redis.RedisError, OSError, ValueError) as exc:
                self.subscribed.clear()
                logger.debug("regiq: cancel requests not pushed (%s); retrying in %.1f s",
                             exc, backoff)
                self._stop.wait(backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)
            finally:
                self.subscribed.clear()
                try:
                    pubsub.close()
                except (redis.RedisError, OSError):
                    pass

    def on_message(self, data: Any) -> None:
        """Mark the job cancelled if it runs here (``data``: ``<0|1>:<job id>``)."""
        text = data.decode() if isinstance(data, bytes) else str(data or "")
        terminate, _, job_id = text.partition(":")
        rt = self.tracker.running.get(job_id)
        if rt is None:
            return
        self.received += 1
        rt.cancelled = True
        if terminate == "1" and rt.terminate_at is None:
            rt.terminate_at = time.monotonic() + self.tracker.settings.cancel_grace
