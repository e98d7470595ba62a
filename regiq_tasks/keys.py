"""Every Redis key, stream, consumer group and lock name regiq-tasks uses, in one place.

``P`` is the configured prefix (``REGIQ_KEY_PREFIX``, default ``regiq:``). Changing a
literal here changes persisted data: it is a data migration, and ``tests/test_keys.py``
pins each one so that it shows as a diff.

=============================  ===========  ==========================================
key                            type         meaning
=============================  ===========  ==========================================
``P job:<id>``                 hash         the job record's fields (see ``record.py``).
                                            No TTL while live; once archived it is put
                                            on ``P expiry`` and a safety EXPIRE of
                                            ``live_ttl + 1 day`` is set. Written only by
                                            the store's Lua scripts; read by every API.
``P ix:all``                   zset (lex)   every live job. All scores 0; member
``P ix:status:<status>``                    ``<created_at µs, 16 digits>:<id>`` so lex
``P ix:type:<type>``                        order is creation order and a member is a
``P ix:worker:<worker>``                    keyset cursor. Written by the Lua scripts
``P ix:pipeline:<pipeline_id>``             (moved when status/worker change); read by
                                            ``list_jobs`` and ``get_pipeline``.
``P running``                  zset         running job ids; score = last heartbeat,
                                            Redis server time in s. Written by the start
                                            script and process heartbeats; read by the
                                            reaper, which marks stale ones ``lost``.
``P expiry``                   zset         archived job ids; score = time (s) at which
                                            the housekeeper removes the job from the live
                                            store and its indexes.
``P events``                   stream       one entry per transition/progress flush:
                                            ``id``, ``status``, ``data`` (JSON of the
                                            changed record fields). MAXLEN ~
                                            ``events_maxlen``. Read by the live relay.
``P archive``                  stream       one entry (``id``) per job that reached a
                                            final status. Consumer group ``archiver``;
                                            an entry is acked and deleted only after the
                                            job's history row is committed.
``P pipeline-cancel:<pid>``    string       the cancel record (JSON) of a cancelled
                                            pipeline; jobs of it published or started
                                            later are cancelled on the spot. TTL 1 day.
``P lock:<name>``              string       a lease (token, PX) held by the one worker
                                            doing a housekeeping duty (archiver, reaper,
                                            expiry) at a time.
=============================  ===========  ==========================================
"""

from __future__ import annotations

from dataclasses import dataclass

ARCHIVER_GROUP = "archiver"
INDEX_DIMENSIONS = ("status", "type", "worker", "pipeline")


@dataclass(frozen=True)
class Keys:
    """Key names under one prefix."""

    prefix: str

    def job(self, job_id: str) -> str:
        """Hash holding one job's fields."""
        return f"{self.prefix}job:{job_id}"

    @property
    def job_prefix(self) -> str:
        """Prefix of the job hashes, for the Lua scripts that derive a job key from an id."""
        return f"{self.prefix}job:"

    @property
    def index_prefix(self) -> str:
        """Prefix of the lex-ordered index sets; the Lua scripts append ``all`` or
        ``<dimension>:<value>``."""
        return f"{self.prefix}ix:"

    @property
    def index_all(self) -> str:
        """Index of every live job."""
        return f"{self.index_prefix}all"

    def index(self, dimension: str, value: str) -> str:
        """Index of the live jobs whose ``dimension`` field equals ``value``."""
        if dimension not in INDEX_DIMENSIONS:
            raise ValueError(f"no index on {dimension!r}")
        return f"{self.index_prefix}{dimension}:{value}"

    @property
    def running(self) -> str:
        """Sorted set of running job ids scored by last heartbeat."""
        return f"{self.prefix}running"

    @property
    def expiry(self) -> str:
        """Sorted set of archived job ids scored by the time they leave the live store."""
        return f"{self.prefix}expiry"

    @property
    def events(self) -> str:
        """Stream of job events for live views."""
        return f"{self.prefix}events"

    @property
    def archive(self) -> str:
        """Stream of finished job ids waiting for the archiver."""
        return f"{self.prefix}archive"

    def pipeline_cancel(self, pipeline_id: str) -> str:
        """Cancel record of a pipeline that was cancelled as a whole."""
        return f"{self.prefix}pipeline-cancel:{pipeline_id}"

    def lock(self, name: str) -> str:
        """Lease held by the worker doing housekeeping duty ``name``."""
        return f"{self.prefix}lock:{name}"
