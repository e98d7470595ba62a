"""The archiver: finished jobs from the Redis archive stream into the SQL history.

Entries are read through the ``archiver`` consumer group, their jobs upserted into
``job_history`` (and their kept log lines into ``job_logs``) in one transaction per
batch, and only then acknowledged and deleted from the stream. Entries delivered but
not acknowledged (the archiver crashed or the database failed) are claimed again on the
next pass. Upserts by id make a redelivery harmless: a crash at any point loses nothing
and duplicates nothing.

While one full batch commits, the next one is read ahead on a thread of the archiver's
own (new entries only: entries of a batch in flight are never claimed again by it), and
that thread then acknowledges the committed batch, so the Redis and database round
trips overlap. An acknowledgement that failed is raised by the next call; its entries
stay pending and are claimed again (the upsert makes that harmless).

A Redis that comes back empty (restarted without persistence, failed over to an empty
replica) has lost the stream and its group: the next read recreates both and goes on.
An entry whose job record is gone or has no final status is acknowledged with a warning
and counted in ``P archive:dropped``, never silently.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import redis
from sqlalchemy.engine import Engine

from regiq_tasks.history.logs import replace_logs
from regiq_tasks.history.repository import upsert_rows
from regiq_tasks.states import FINAL_STATUSES
from regiq_tasks.store import LiveStore
from regiq_tasks.store.keys import ARCHIVER_GROUP
from regiq_tasks.store.logs import KeptLines

logger = logging.getLogger(__name__)

SAFETY_TTL_EXTRA = 86_400  # s: a job hash expires this long after its live TTL regardless
RECLAIM_INTERVAL = 5.0  # s between passes over entries left pending by a crashed archiver


@dataclass
class Batch:
    """Stream entries read for archiving and the job records they point to."""

    entry_ids: list[bytes]
    job_ids: list[str]
    records: list[dict[str, Any]]
    logs: dict[str, KeptLines]  # the kept log lines of the jobs in ``records``


def consumer_name() -> str:
    """A consumer name unique to this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Archiver:
    """Moves finished jobs from the live store into the history table, in batches."""

    def __init__(self, store: LiveStore, engine: Engine, live_ttl: float,
                 batch_size: int = 1000, consumer: str | None = None) -> None:
        self.store = store
        self.client: redis.Redis = store.client
        self.engine = engine
        self.live_ttl = live_ttl
        self.batch_size = batch_size
        self.consumer = consumer or consumer_name()
        self._group_ready = False
        self._next_reclaim = 0.0  # the first read reclaims whatever was left pending
        self._reader: ThreadPoolExecutor | None = None  # reads the next batch ahead
        self._ahead: Future[Batch] | None = None  # that read, while a batch commits
        self._acks: list[Future[None]] = []  # acknowledgements the thread has yet to make

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self.client.xgroup_create(self.store.keys.archive, ARCHIVER_GROUP, id="0",
                                      mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def read(self, block_ms: int = 0) -> Batch:
        """Claim entries left pending by anyone, else read new ones (waiting ``block_ms``)."""
        self._ensure_group()
        try:
            entries = self._entries(block_ms)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            logger.warning("regiq archiver: the archive stream or its group is gone (Redis "
                           "restarted empty?); recreating it")
            self._group_ready = False
            self._ensure_group()
            entries = self._entries(block_ms)
        return self._batch(entries)

    def _entries(self, block_ms: int) -> list[Any]:
        key = self.store.keys.archive
        entries: list[Any] = []
        if time.monotonic() >= self._next_reclaim:
            claimed: Any = self.client.xautoclaim(key, ARCHIVER_GROUP, self.consumer,
                                                  min_idle_time=0, start_id="0-0",
                                                  count=self.batch_size)
            entries = [e for e in claimed[1] if e and e[1]]
            if len(entries) < self.batch_size:
                self._next_reclaim = time.monotonic() + RECLAIM_INTERVAL
        if not entries:
            reply: Any = self.client.xreadgroup(ARCHIVER_GROUP, self.consumer, {key: ">"},
                                           count=self.batch_size, block=block_ms or None)
            entries = reply[0][1] if reply else []
        return entries

    def _batch(self, entries: list[Any]) -> Batch:
        entry_ids = [e[0] for e in entries]
        job_ids = [e[1][b"id"].decode() for e in entries]
        records, dropped = [], []
        found, logs = self.store.archive_read(job_ids) if job_ids else ([], {})
        for job_id, record in zip(job_ids, found):
            if record is not None and record["status"] in FINAL_STATUSES:
                records.append(record)
            else:
                dropped.append(job_id)
                logs.pop(job_id, None)
        if dropped:
            self._count_dropped(dropped)
        return Batch(entry_ids, job_ids, records, logs)

    def _count_dropped(self, job_ids: list[str]) -> None:
        """Log and count entries acknowledged without a history row."""
        logger.warning("regiq archiver: %d finished job(s) have no final record in the live "
                       "store and are not archived: %s", len(job_ids),
                       ", ".join(job_ids[:20]))
        self.client.incrby(self.store.keys.archive_dropped, len(job_ids))

    def commit(self, batch: Batch) -> int:
        """Upsert the batch's records and their log lines into the history (one
        transaction)."""
        if not batch.records:
            return 0
        with self.engine.begin() as connection:
            written = upsert_rows(connection, batch.records)
            replace_logs(connection, batch.logs)
        return written

    def acknowledge(self, batch: Batch) -> None:
        """Ack and delete the entries, and start the live TTL of their jobs (one
        ``archived.lua`` call)."""
        if not batch.entry_ids:
            return
        pipelines = sorted({r["pipeline_id"] for r in batch.records if r["pipeline_id"]})
        self.store.archived(batch.entry_ids, batch.job_ids, pipelines,
                            time.time() + self.live_ttl, int(self.live_ttl + SAFETY_TTL_EXTRA))

    def _read_ahead(self) -> None:
        """Start reading the next new entries (never a claim: this batch is pending)."""
        self._ahead = self._thread().submit(self._read_new)

    def _thread(self) -> ThreadPoolExecutor:
        if self._reader is None:
            self._reader = ThreadPoolExecutor(1, thread_name_prefix="regiq-archive-read")
        return self._reader

    def _settle_acks(self, wait: bool = False) -> None:
        """Raise the error of an acknowledgement made on the thread, if one failed."""
        done = [f for f in self._acks if wait or f.done()]
        self._acks = [f for f in self._acks if f not in done]
        for future in done:
            future.result()

    def _read_new(self) -> Batch:
        try:
            reply: Any = self.client.xreadgroup(ARCHIVER_GROUP, self.consumer,
                                                {self.store.keys.archive: ">"},
                                                count=self.batch_size)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            return self._batch([])  # the next read() recreates the group
        return self._batch(reply[0][1] if reply else [])

    def _next_batch(self, block_ms: int) -> Batch:
        """The batch read ahead, if it holds entries; else a read (or claim) now, once
        the thread's acknowledgements are made (a claim would take their entries)."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            batch = ahead.result()
            if batch.entry_ids:
                return batch
        self._settle_acks(wait=True)
        return self.read(block_ms)

    def _archive(self, batch: Batch) -> int:
        """Commit and acknowledge ``batch``. When it was full (more are likely waiting) the
        next one is read meanwhile, and the thread acknowledges this one after that read."""
        full = len(batch.entry_ids) >= self.batch_size
        if full:
            self._read_ahead()
        written = self.commit(batch)
        if full:
            self._acks.append(self._thread().submit(self.acknowledge, batch))
        else:
            self.acknowledge(batch)
        self._settle_acks()
        return written

    def run_once(self, block_ms: int = 0) -> int:
        """Archive one batch; returns the number of history rows written."""
        return self._archive(self._next_batch(block_ms))

    def drain(self, max_batches: int = 1_000_000) -> int:
        """Archive until the stream has nothing left to deliver; returns rows written."""
        total = 0
        for _ in range(max_batches):
            batch = self._next_batch(0)
            if not batch.entry_ids:
                break
            total += self._archive(batch)
        self._settle_acks(wait=True)
        return total

    def close(self) -> None:
        """Stop the thread after its acknowledgements; a batch it read ahead stays pending,
        to be claimed."""
        self._ahead = None
        if self._reader is not None:
            self._reader.shutdown(wait=True)
            self._reader = None
        self._acks = []
