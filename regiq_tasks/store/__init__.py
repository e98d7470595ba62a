"""The Redis live store: atomic job changes (Lua), heartbeats, expiry and reads.

Every write to a job goes through ``apply.lua``, which applies a :class:`Change`
atomically in one round trip: it never moves a job out of a final status nor back to
``queued``, keeps the lex indexes in step with the job's fields, maintains the running
set, queues finished jobs for the archiver and appends the change to the event stream.
Each script begins with the key prelude rendered from ``keys.py``
(:func:`~regiq_tasks.store.prelude.lua_prelude`) and gets the key prefix as ``ARGV[1]``
where it derives a key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import redis

from regiq_tasks.config import DEFAULT_JOB_LOG_BYTES, DEFAULT_JOB_LOG_LINES
from regiq_tasks.jsoncodec import dumps_compact, loads
from regiq_tasks.store.keys import (
    ARCHIVER_GROUP,
    Keys,
    index_member,
    index_member_us,
    split_index_member,
)
from regiq_tasks.store.logs import JobLogStore, KeptLines, LogAppend, kept_run
from regiq_tasks.store.prelude import lua_prelude
from regiq_tasks.store.query import JobLister
from regiq_tasks.store.record import as_text, record_from_flat_json, record_from_hash
from regiq_tasks.store.scripts import LuaScript, execute

__all__ = ["Change", "LiveStore", "index_member"]

_PRIVATE_FIELDS = frozenset({"_ix", "cancel_requested"})


def encode_value(value: Any) -> str:
    """A field value as stored in the job hash (nested values as JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    return dumps_compact(value)


@dataclass(slots=True)
class Change:
    """One change to a job; ``fill`` fields are written only where still absent."""

    job_id: str
    status: str = ""
    set: dict[str, Any] = field(default_factory=dict)
    fill: dict[str, Any] = field(default_factory=dict)
    event: bool = True
    reap_cutoff: float | None = None  # a reap: only while the heartbeat is older than this
    reap_queued: bool = False  # a reap: only while the job is queued and not accepted
    pipeline_id: str | None = None  # set on publish/start: a cancelled pipeline wins
    on_result: Callable[[str, bool], None] | None = None
    notify: bool = False  # a final change: the job_finished hooks hear of it once applied
    origin: Any = None  # the Celery task whose run made the change, if known (for hooks)
    message: str | None = None  # the queued change: the task message kept for a retry
    plan: str | None = None  # the queued change of a pipeline's first message: its plan

    def event_data(self) -> str:
        """JSON of the public fields this change writes, for the event stream."""
        data = {k: v for k, v in {**self.fill, **self.set}.items()
                if k not in _PRIVATE_FIELDS and v is not None}
        if self.status:
            data["status"] = self.status
        return dumps_compact(data)


def _reap_guard(change: Change) -> str:
    """apply.lua's ARGV[6]: the heartbeat cutoff of a reap, ``queued``, or nothing."""
    if change.reap_queued:
        return "queued"
    return "" if change.reap_cutoff is None else repr(change.reap_cutoff)


def bare_script(name: str) -> str:
    """A script of this package as it is, without the prelude (``accept_mark.lua``)."""
    return resources.files(__package__).joinpath(name).read_text()


def _load(name: str) -> str:
    """A script of this package, after the key prelude and the metric counters' update
    (``metrics.lua``: ``record_metrics``, called by ``apply.lua`` and ``cancel.lua``)."""
    folder = resources.files(__package__)
    return (lua_prelude() + folder.joinpath("metrics.lua").read_text()
            + folder.joinpath(name).read_text())


class LiveStore:
    """Reads and atomic writes of the live job store in one Redis."""

    def __init__(self, client: redis.Redis, keys: Keys, events_maxlen: int = 100_000,
                 log_lines: int = DEFAULT_JOB_LOG_LINES,
                 log_bytes: int = DEFAULT_JOB_LOG_BYTES) -> None:
        self.client = client
        self.keys = keys
        self.events_maxlen = events_maxlen
        self._apply = LuaScript(client, _load("apply.lua"))
        self._heartbeat = LuaScript(client, _load("heartbeat.lua"))
        self._stale = LuaScript(client, _load("stale.lua"))
        self._expire = LuaScript(client, _load("expire.lua"))
        self._cancel = LuaScript(client, _load("cancel.lua"))
        self._retry = LuaScript(client, _load("retry.lua"))
        self._archived = LuaScript(client, _load("archived.lua"))
        self._archive_read = LuaScript(client, _load("archive_read.lua"))
        self.lister = JobLister(client, keys)
        self.logs = JobLogStore(client, keys, log_lines, log_bytes)

    def _apply_call(self, change: Change, client: Any) -> Any:
        pairs_set = [x for k, v in change.set.items() if v is not None
                     for x in (k, encode_value(v))]
        pairs_fill = [x for k, v in change.fill.items() if v is not None
                      for x in (k, encode_value(v))]
        k = self.keys
        keys = [k.job(change.job_id), k.events, k.archive, k.running]
        if change.pipeline_id:
            keys.append(k.pipeline_cancel(change.pipeline_id))
        return self._apply(
            keys=keys,
            args=[k.prefix, change.job_id, change.status, self.events_maxlen,
                  change.event_data() if change.event else "",
                  _reap_guard(change),
                  len(pairs_set) // 2, change.message or "", change.plan or "",
                  change.pipeline_id or "", *pairs_set, *pairs_fill],
            client=client)

    @staticmethod
    def _result(raw: Sequence[bytes]) -> tuple[str, bool]:
        return raw[0].decode(), raw[1] == b"1"

    def apply(self, change: Change) -> tuple[str, bool]:
        """Apply one change now; returns (status after, cancel requested)."""
        return self._result(self._apply_call(change, self.client))

    def apply_many(self, changes: Sequence[Change],
                   logs: Sequence[LogAppend] = ()) -> list[tuple[str, bool]]:
        """Apply several changes in one pipelined round trip, in order, after appending
        ``logs`` (so a job's lines are stored before its final status)."""
        pipe = self.client.pipeline(transaction=False)
        for entry in logs:
            self.logs.append(pipe, entry)
        for change in changes:
            self._apply_call(change, pipe)
        return [self._result(r) for r in execute(pipe)[len(logs):]]

    def archive_read(self, job_ids: Sequence[str]
                     ) -> tuple[list[dict[str, Any] | None], dict[str, KeptLines]]:
        """The records of these jobs (None where unknown) and their kept log lines, in one
        round trip: the archiver's read, see ``archive_read.lua``."""
        raw = self._archive_read(keys=[], args=[self.keys.prefix, *job_ids])
        records = [record_from_flat_json(text) for text in raw[::2]]
        logs = {job_id: kept_run(flat) for job_id, flat in zip(job_ids, raw[1::2]) if flat}
        return records, logs

    def archived(self, entry_ids: Sequence[bytes], job_ids: Sequence[str],
                 pipeline_ids: Sequence[str], expire_at: float, ttl: int) -> None:
        """Acknowledge archived stream entries (the archiver group's) and start the live
        TTL of their jobs and pipelines' plans, see ``archived.lua``."""
        k = self.keys
        self._archived(keys=[k.archive, k.expiry],
                       args=[k.prefix, ARCHIVER_GROUP, repr(expire_at), ttl, len(entry_ids),
                             *entry_ids, len(job_ids), *job_ids, *pipeline_ids])

    def request_cancel(self, job_id: str, cancel: dict[str, Any], terminate: bool,
                       now: float) -> tuple[str, str]:
        """Record a cancel request; returns (outcome, status), see ``cancel.lua``."""
        k = self.keys
        raw = self._cancel(keys=[k.job(job_id), k.events, k.archive, k.running,
                                 k.cancel_channel],
                           args=[k.prefix, job_id, encode_value(cancel),
                                 self.events_maxlen, repr(now), "1" if terminate else "0"])
        return raw[0].decode(), raw[1].decode()

    def claim_retry(self, job_id: str, new_id: str,
                    requested_by: str | None) -> tuple[str, str, str | None]:
        """Link a job to its retry ``new_id`` and read its kept message; returns
        (outcome, status, message or the id it was already retried as), see ``retry.lua``."""
        k = self.keys
        raw = self._retry(keys=[k.job(job_id), k.message(job_id), k.events, k.archive],
                          args=[job_id, new_id, self.events_maxlen, requested_by or ""])
        return raw[0].decode(), raw[1].decode(), raw[2].decode() if len(raw) > 2 else None

    def release_retry(self, job_id: str, new_id: str) -> None:
        """Undo :meth:`claim_retry` whose publish failed (the history row follows)."""
        if self.client.hget(self.keys.job(job_id), "retried_as") == new_id.encode():
            self.client.hdel(self.keys.job(job_id), "retried_as", "retried_by")
            self.client.xadd(self.keys.archive, {"id": job_id})

    def cancel_pipeline_record(self, pipeline_id: str, cancel: dict[str, Any],
                               ttl: int = 86_400) -> None:
        """Mark a pipeline cancelled so that its later jobs are cancelled on the spot."""
        self.client.set(self.keys.pipeline_cancel(pipeline_id), encode_value(cancel), ex=ttl,
                        nx=True)

    def pipeline_plan(self, pipeline_id: str) -> tuple[list[bytes], bool]:
        """(the plan entries recorded for a pipeline, whether it was cancelled as a whole)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hvals(self.keys.plan(pipeline_id))
        pipe.exists(self.keys.pipeline_cancel(pipeline_id))
        entries, cancelled = pipe.execute()
        return entries, bool(cancelled)

    def cancel_record(self, job_id: str) -> dict[str, Any] | None:
        """The job's cancel record (JSON field ``cancel``), or None."""
        raw = self.client.hget(self.keys.job(job_id), "cancel")
        return loads(raw) if raw else None

    def cancel_flags(self, job_ids: Sequence[str]) -> list[tuple[bool, bool]]:
        """(cancel requested, terminate requested) of each job, in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hmget(self.keys.job(job_id), "cancel_requested", "cancel_terminate")
        return [(a == b"1", b == b"1") for a, b in pipe.execute()]

    def heartbeat(self, job_ids: Iterable[str]) -> list[str]:
        """Renew the heartbeat of these running jobs; returns those not in the running set."""
        ids = list(job_ids)
        if not ids:
            return []
        return [x.decode() for x in self._heartbeat(keys=[self.keys.running], args=ids)]

    def stale(self, lost_after: float, count: int = 500) -> tuple[float, list[str]]:
        """Running jobs without a heartbeat for ``lost_after`` s, and the cutoff used."""
        raw = self._stale(keys=[self.keys.running], args=[lost_after, count])
        return float(raw[0]), [x.decode() for x in raw[1:]]

    def queued_before(self, created_before: float, count: int = 500,
                      start: int = 0) -> tuple[int, list[tuple[str, str | None]]]:
        """Up to ``count`` of the queued jobs created before ``created_before``, oldest
        first from the ``start``-th: how many were read, and of them those that no worker
        has accepted (no entry in the running set), each with the queue it was sent to."""
        bound = "(" + index_member_us(int(created_before * 1_000_000))
        members = self.client.zrangebylex(self.keys.index("status", "queued"), "-", bound,
                                          start=start, num=count)
        ids = [split_index_member(as_text(m))[1] for m in members]
        pipe = self.client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hget(self.keys.job(job_id), "queue")
            pipe.zscore(self.keys.running, job_id)
        answers = pipe.execute() if ids else []
        return len(ids), [(job_id, as_text(queue) if queue is not None else None)
                          for job_id, queue, accepted in zip(ids, answers[::2], answers[1::2])
                          if accepted is None]

    def expire_due(self, count: int = 1000) -> int:
        """Drop archived jobs whose live TTL is over; returns how many."""
        return int(self._expire(keys=[self.keys.expiry], args=[self.keys.prefix, count]))

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The live record of one job, or None."""
        return record_from_hash(self.client.hgetall(self.keys.job(job_id)))

    def get_many(self, job_ids: Sequence[str]) -> list[dict[str, Any] | None]:
        """The live records of several jobs, in order (None where unknown)."""
        pipe = self.client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(self.keys.job(job_id))
        return [record_from_hash(h) for h in pipe.execute()]
