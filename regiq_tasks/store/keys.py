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
``P joblog:<id>``              hash         a job's kept log lines: field ``<seq>``
                                            (0, 1, ... in emission order) = JSON line;
                                            ``next`` = lines ever seen, ``first`` = seq
                                            of the oldest kept (= lines let go),
                                            ``bytes`` = size of the kept lines. Written
                                            by the writer (``logs.lua``), expired and
                                            archived with ``P job:<id>``.
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
``P archive:dropped``          string       count of archive entries acknowledged
                                            without a history row (their job record was
                                            gone or not final). No TTL. INCRBY by the
                                            archiver, which also logs the job ids; read
                                            by operators and tests.
``P message:<id>``             string       the job's task message as published (JSON
                                            of ``retry/message.py``: body, headers,
                                            routing), kept to publish it again on a
                                            retry; never read by a reader or the API.
                                            Set by ``apply.lua`` with the queued change;
                                            expires with the job (the archiver's safety
                                            EXPIRE, ``expire.lua`` deletes it).
``P plan:<pid>``               hash         a pipeline's plan (``pipelines/plan.py``):
                                            field = id of a job that started it, value
                                            = JSON of its canvas. HSETNX by
                                            ``apply.lua`` with that job's queued change;
                                            no TTL while a job of the pipeline is live
                                            (publish and start PERSIST it), the jobs'
                                            safety EXPIRE once archived; ``expire.lua``
                                            deletes it with the pipeline's last job.
``P pipeline-cancel:<pid>``    string       the cancel record (JSON) of a cancelled
                                            pipeline; jobs of it published or started
                                            later are cancelled on the spot. TTL 1 day.
``P lock:<name>``              string       a lease (token, PX) held by the one worker
                                            doing a housekeeping duty (archiver, reaper,
                                            expiry, history-retention) at a time.
``P alerts:failures:<type>``   zset         final failures of one job type for the
                                            ``failure_burst`` rule; member = job id,
                                            score = failure time (s). Trimmed to the
                                            window, TTL = window. Written and read by
                                            the alert task.
``P alerts:burst:<type>``      string       start time (s) of the current failure
                                            burst of a type (its fingerprint); TTL =
                                            window. Written and read by the alert task.
``P alerts:overdue:<id>``      string       marks a running job already reported as
                                            overdue (``job_overdue``); TTL 1 day.
                                            Written and read by the reaper's check.
``P alerts:watch``             hash         the resource alerts' conditions: field =
                                            fingerprint, value = JSON {rule, key,
                                            since, clear_since, alert_id}. No TTL
                                            (fields go when a condition clears).
                                            Written and read by the watch duty.
``P cancels``                  pub/sub      a cancel request on a running job:
                                            message ``<0|1 terminate>:<id>``. Published
                                            by ``cancel.lua``; every process running
                                            tracked jobs listens (``cancel/listen.py``)
                                            so the job learns of it at its next check.
``P socketio``                 pub/sub      Flask-SocketIO message-queue channel: the
                                            alert tasks emit ``alert`` events on it;
                                            the monitor servers (``SocketIO(channel=``
                                            ``...)``) fan them out to their clients.
``P live:relay-last-id``       string       id of the last ``P events`` entry the live
                                            relay emitted; a relay that takes over
                                            resumes after it. Written and read by the
                                            relay holding ``P lock:live-relay``.
``P live:rooms``               zset         Socket.IO rooms with a subscriber on some
                                            monitor; score = last refresh (s, the
                                            monitor's clock). Written by every monitor
                                            (on subscribe, and every few seconds);
                                            read by the relay, which emits only to
                                            fresh rooms and trims stale members.
``P m:cum:<scope>``            hash         cumulative job metrics of one scope, never
                                            reset, no TTL. Scope ``all``, ``t:<type>``
                                            or ``q:<queue>``. Fields ``n:<outcome>``
                                            (succeeded, failed, cancelled, lost,
                                            retried), ``n:published`` (records
                                            created), ``d:<i>``/``w:<i>`` duration and
                                            queue-wait bucket counts (bounds of
                                            ``metrics/histogram.py``), ``ds``/``ws``
                                            their sums (µs), ``cpu`` CPU-time sum (µs) of
                                            the ``cn`` jobs that reported one,
                                            ``r:<i>`` peak-RSS bucket counts (bucket of
                                            bytes * 1e-6). Written by ``record_metrics``
                                            (``store/metrics.lua``) inside ``apply.lua``
                                            and ``cancel.lua``: ``n:published`` when a
                                            change creates the record, wait at the
                                            start, the rest at the final transition,
                                            ``n:retried`` on ``retrying``; read by the
                                            metric readers.
``P m:scopes``                 set          every scope with a ``P m:cum:<scope>``.
                                            No TTL. SADD by ``record_metrics`` when an
                                            increment created a field; read by the
                                            snapshot duty and the readers.
``P m:snap:<k>:<t>:<scope>``   hash         a copy (COPY) of ``P m:cum:<scope>`` at
                                            boundary ``t`` (Unix s) of kind ``k``:
                                            ``m`` minute (TTL 49 h), ``h`` hour (TTL
                                            retention days + 1 h), plus ``_at``, the
                                            time (s) the copy was taken. Written by the
                                            metrics snapshot duty; read by
                                            ``get_performance``.
``P m:snaps:<k>``              zset         the boundaries with a snapshot of kind
                                            ``k``; member and score = ``t``. Trimmed to
                                            the snapshots' TTL by the snapshot duty.
``P m:fin``                    hash         jobs finished per second; field = Unix s,
                                            value = count. HINCRBY by ``record_metrics``,
                                            trimmed to the last 120 s by the snapshot
                                            duty; read by ``throughput()``.
``P workers``                  zset         the workers that sample themselves; member =
                                            name (Celery's hostname), score = when its
                                            samples expire (Redis server s). Written by
                                            each worker's sampler (``resources/``
                                            ``sample.lua``), which trims expired members;
                                            TTL: the longest ``worker_ttl``. Read by
                                            ``resources/workers.py``.
``P worker:<name>``            string       a worker's latest sample (JSON; ``at`` =
                                            Redis server s), TTL ``worker_ttl``: gone
                                            when it stopped sampling that long ago.
``P worker-samples:<name>``    zset         a worker's compact samples of the last
                                            ``worker_ttl`` s (at most 3600); member =
                                            JSON, score = its ``at``. TTL ``worker_ttl``.
=============================  ===========  ==========================================

Socket.IO rooms (not Redis keys, so no prefix: the message-queue channel above is
prefixed already): ``all`` (every job), ``job:<id>``, ``pipeline:<pipeline_id>`` and
``type:<job type>``; see :func:`job_room` and its neighbours.

The store's Lua scripts spell no key themselves: each begins with the prelude
(:func:`~regiq_tasks.store.prelude.lua_prelude`) rendered from this module
(``keyspace(prefix)``, ``index_member``, ``member_id``, the index dimensions and the job
fields they index, the metric keys and the histogram bounds), and gets the prefix in
``ARGV[1]``.

Why cumulative counters and snapshots rather than minute buckets rolled up to hours (the
first sketch in DESIGN.md): a window is then "live ``m:cum`` minus the snapshot at the
window's start", two hashes per scope whatever the window's length, so a 7-day read
over 50 types costs O(scopes) round-trip work, never O(window buckets) (10,080 minute
buckets per type for 7 d); the hot path writes one hash per scope instead of one per
scope and minute; and the never-reset ``m:cum`` hashes are what Prometheus scrapes.
"""

from __future__ import annotations

from dataclasses import dataclass

ARCHIVER_GROUP = "archiver"
RELAY_LOCK = "live-relay"  # lease name (``P lock:live-relay``) of the one live relay
ARCHIVER_LOCK = "archiver"  # lease names (``P lock:<name>``) of the housekeeping duties
REAPER_LOCK = "reaper"  # the lost-job reaper (and the duties that keep its pace)
EXPIRY_LOCK = "expiry"  # live-store expiry of archived jobs
VANISHED_LOCK = "vanished"  # queued jobs whose message the broker no longer holds
METRICS_LOCK = "metrics"  # the metrics snapshot duty
WATCH_LOCK = "alert-watch"  # the resource alerts' evaluation
RETENTION_LOCK = "history-retention"  # deleting history rows past the retention
SCOPE_ALL = "all"  # metrics scope of every job
SNAPSHOT_KINDS = ("m", "h")  # metric snapshot kinds: minute, hour
ROOM_ALL = "all"  # Socket.IO room of the clients subscribed to every job


def job_room(job_id: str) -> str:
    """Socket.IO room of one job's subscribers."""
    return f"job:{job_id}"


def pipeline_room(pipeline_id: str) -> str:
    """Socket.IO room of one pipeline's subscribers."""
    return f"pipeline:{pipeline_id}"


def type_room(job_type: str) -> str:
    """Socket.IO room of one job type's subscribers."""
    return f"type:{job_type}"


def type_scope(job_type: str) -> str:
    """Metrics scope of one job type."""
    return f"t:{job_type}"


def queue_scope(queue: str) -> str:
    """Metrics scope of one queue."""
    return f"q:{queue}"


INDEX_DIMENSIONS = ("status", "type", "worker", "pipeline")
# The job-hash field each of INDEX_DIMENSIONS indexes, in the same order.
INDEX_FIELDS = ("status", "type", "worker", "pipeline_id")
MEMBER_TIME_DIGITS = 16  # width of the zero-padded creation time (µs) an index member starts with
MEMBER_SEPARATOR = ":"  # between the creation time and the job id in an index member


def index_member_us(created_us: int, job_id: str = "") -> str:
    """The index member of a job created at ``created_us`` (µs since the epoch).

    Without ``job_id`` it is the lex bound just below every member of that microsecond.
    """
    return f"{created_us:0{MEMBER_TIME_DIGITS}d}{MEMBER_SEPARATOR}{job_id}"


def index_member(created_at: float, job_id: str) -> str:
    """The lex-index member of a job: fixed-width creation time in µs, then the id."""
    return index_member_us(int(created_at * 1_000_000), job_id)


def split_index_member(member: str) -> tuple[int, str]:
    """(creation time in µs, job id) of an index member."""
    created_us, job_id = member.split(MEMBER_SEPARATOR, 1)
    return int(created_us), job_id


@dataclass(frozen=True)
class Keys:
    """Key names under one prefix."""

    prefix: str

    def job(self, job_id: str) -> str:
        """Hash holding one job's fields."""
        return f"{self.prefix}job:{job_id}"

    def job_logs(self, job_id: str) -> str:
        """Hash holding one job's kept log lines."""
        return f"{self.prefix}joblog:{job_id}"

    @property
    def index_all(self) -> str:
        """Index of every live job."""
        return f"{self.prefix}ix:all"

    def index(self, dimension: str, value: str) -> str:
        """Index of the live jobs whose ``dimension`` field equals ``value``."""
        if dimension not in INDEX_DIMENSIONS:
            raise ValueError(f"no index on {dimension!r}")
        return f"{self.prefix}ix:{dimension}:{value}"

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

    @property
    def archive_dropped(self) -> str:
        """Counter of archive entries acknowledged without a history row."""
        return f"{self.prefix}archive:dropped"

    def message(self, job_id: str) -> str:
        """The task message of a job as published (kept for a retry)."""
        return f"{self.prefix}message:{job_id}"

    def plan(self, pipeline_id: str) -> str:
        """The plan (canvas structure) of a pipeline, recorded at its first publish."""
        return f"{self.prefix}plan:{pipeline_id}"

    def pipeline_cancel(self, pipeline_id: str) -> str:
        """Cancel record of a pipeline that was cancelled as a whole."""
        return f"{self.prefix}pipeline-cancel:{pipeline_id}"

    def lock(self, name: str) -> str:
        """Lease held by the worker doing housekeeping duty ``name``."""
        return f"{self.prefix}lock:{name}"

    def alert_failures(self, job_type: str) -> str:
        """Sliding window of a job type's final failures (the burst rule)."""
        return f"{self.prefix}alerts:failures:{job_type}"

    def alert_burst(self, job_type: str) -> str:
        """Start of a job type's current failure burst (the burst rule)."""
        return f"{self.prefix}alerts:burst:{job_type}"

    def alert_overdue(self, job_id: str) -> str:
        """Marker of a running job already reported as overdue."""
        return f"{self.prefix}alerts:overdue:{job_id}"

    @property
    def alert_watch(self) -> str:
        """The resource alerts' conditions, by fingerprint."""
        return f"{self.prefix}alerts:watch"

    @property
    def cancel_channel(self) -> str:
        """Pub/sub channel of cancel requests on running jobs (pushed to their process)."""
        return f"{self.prefix}cancels"

    @property
    def socketio_channel(self) -> str:
        """Flask-SocketIO message-queue channel shared by the alert tasks and monitors."""
        return f"{self.prefix}socketio"

    @property
    def relay_last_id(self) -> str:
        """Id of the last event-stream entry the live relay emitted."""
        return f"{self.prefix}live:relay-last-id"

    @property
    def live_rooms(self) -> str:
        """Sorted set of the Socket.IO rooms with subscribers, scored by last refresh."""
        return f"{self.prefix}live:rooms"

    def metrics_cum(self, scope: str) -> str:
        """Cumulative metric counters of one scope (never reset)."""
        return f"{self.prefix}m:cum:{scope}"

    @property
    def metrics_scopes(self) -> str:
        """Set of the metric scopes that have counters."""
        return f"{self.prefix}m:scopes"

    def metrics_snapshot(self, kind: str, start: int, scope: str) -> str:
        """Copy of a scope's counters at a minute (``m``) or hour (``h``) boundary."""
        if kind not in SNAPSHOT_KINDS:
            raise ValueError(f"no snapshot kind {kind!r}")
        return f"{self.prefix}m:snap:{kind}:{start}:{scope}"

    def metrics_snapshots(self, kind: str) -> str:
        """Sorted set of the boundaries with a snapshot of ``kind``."""
        if kind not in SNAPSHOT_KINDS:
            raise ValueError(f"no snapshot kind {kind!r}")
        return f"{self.prefix}m:snaps:{kind}"

    @property
    def metrics_finished(self) -> str:
        """Hash of jobs finished per second (the realtime throughput)."""
        return f"{self.prefix}m:fin"

    @property
    def workers(self) -> str:
        """Sorted set of the sampling workers, scored by when their samples expire."""
        return f"{self.prefix}workers"

    def worker(self, name: str) -> str:
        """A worker's latest resource sample."""
        return f"{self.prefix}worker:{name}"

    def worker_samples(self, name: str) -> str:
        """A worker's recent resource samples, scored by time."""
        return f"{self.prefix}worker-samples:{name}"
