"""Settings for regiq-tasks, read once from the Celery app's config and the environment.

Every setting ``name`` is looked up as ``regiq_<name>`` in the Celery app's configuration
first, then as the environment variable ``REGIQ_<NAME>``, then falls back to its default.
This is the only module that reads the environment.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from regiq_tasks.connect import SentinelURL, is_sentinel
from regiq_tasks.errors import ConfigurationError

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"  # live store; broker and backend default to it
DEFAULT_DATABASE_URL = "sqlite:///regiq-history.db"  # SQLite file in the working directory
DEFAULT_KEY_PREFIX = "regiq:"  # prefix of every Redis key, stream and channel we own
DEFAULT_PROGRESS_INTERVAL = 0.25  # s: at most one progress write per job per interval
DEFAULT_BACKEND_PROGRESS_INTERVAL = 1.0  # s: PROGRESS state to the result backend / Celery event
DEFAULT_LIVE_TTL = 3600.0  # s: a finished, archived job stays in the live store this long
DEFAULT_LOST_AFTER = 60.0  # s: a running job without heartbeat this long becomes `lost`
DEFAULT_MESSAGE_LOST_AFTER = 60.0  # s: a queued job whose message the broker no longer holds
DEFAULT_CANCEL_GRACE = 10.0  # s: cooperative cancel window before a forced terminate
DEFAULT_LIVE_MAX_RATE = 10.0  # progress updates per job per second to one live client
DEFAULT_MAX_BODY_BYTES = 65536  # REST request bodies above this are refused with 413
DEFAULT_ALERT_QUEUE = "regiq.alerts"  # queue of the alert tasks
DEFAULT_FAILURE_BURST = "5/600"  # failures/seconds of one type that escalate to CRITICAL
DEFAULT_FLUSH_INTERVAL = 0.05  # s: the background writer flushes queued transitions this often
DEFAULT_EVENTS_MAXLEN = 100_000  # approximate length cap of the event stream
DEFAULT_ARCHIVE_BATCH = 1000  # jobs per archiver transaction
DEFAULT_REDIS_TIMEOUT = 2.0  # s: socket connect/read timeout of the tracking Redis client
DEFAULT_RESOURCE_INTERVAL = 0.5  # s: RSS sampling period in processes that run tasks
DEFAULT_METRICS_RETENTION_DAYS = 35  # days hour snapshots of the job metrics are kept
DEFAULT_HISTORY_RETENTION_DAYS = 90  # days archived jobs are kept in SQL (0: forever)
DEFAULT_AUTO_MIGRATE = True  # workers bring the history schema to head before archiving
DEFAULT_HEALTH_TIMEOUT = 1.5  # s: the health answer waits this long for its checks
DEFAULT_ARCHIVE_LAG = 60.0  # s: finished jobs waiting longer for the history: degraded
DEFAULT_HISTORY_QUERY_TIMEOUT = 10.0  # s: a history listing running longer is cancelled (0: never)
# Resource alerts (docs/alerts.md): thresholds, and how long each condition must hold
# (and then be clear) before it raises (and resolves) its alert.
DEFAULT_ALERT_WATCH_INTERVAL = 5.0  # s between two evaluations (one worker, a lease)
DEFAULT_ALERT_QUEUE_WAIT = 300.0  # s the oldest queued tracked job may wait: queue_backlog
DEFAULT_ALERT_NO_CONSUMER_FOR = 60.0  # s jobs wait on a queue nobody consumes: no_consumer
DEFAULT_ALERT_DISK = 90.0  # % used of a worker's disk path: disk_space HIGH
DEFAULT_ALERT_DISK_CRITICAL = 97.0  # % used: disk_space CRITICAL
DEFAULT_ALERT_HOST_MEMORY = 90.0  # % of a worker host's memory used: worker_memory
DEFAULT_ALERT_HOST_CPU = 95.0  # % CPU of a worker's host: host_cpu
DEFAULT_ALERT_RESOURCE_FOR = 300.0  # s memory or CPU stays over its threshold
DEFAULT_ALERT_JOB_SLOW = "LOW"  # severity of job_slow (a running job past its type's p99); off
DEFAULT_SLOW_MIN_RUNS = 20  # runs of a type in 7 days before its p99 marks a job slow
DEFAULT_SLOW_MARGIN = 1.25  # a job is slow past this multiple of its type's 7-day p99
DEFAULT_SAMPLE_INTERVAL = 5.0  # s between two resource samples of a worker (process tree, host)
DEFAULT_DISK_PATHS = ""  # comma-separated paths whose disk use workers sample; empty: cwd, temp
DEFAULT_WORKER_TTL = 3600.0  # s a worker's samples are kept after its last one (then it is gone)
DEFAULT_JOB_LOG_LEVEL = "INFO"  # log records at or above this level are kept with their job
DEFAULT_JOB_LOG_LINES = 500  # a job keeps its last this many log lines (0: no job logs)
DEFAULT_JOB_LOG_BYTES = 65536  # ... and at most this many bytes of them


_SLOW_SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL", "OFF")


def _to_bool(raw: Any) -> bool:
    """A boolean as given, or one spelled as in ``REGIQ_AUTO_MIGRATE=no``."""
    if isinstance(raw, bool):
        return raw
    lowered = str(raw).strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {raw!r}")


def level_number(name: str) -> int:
    """A logging level's number from its name (``INFO``) or a number; ConfigurationError
    for anything else."""
    text = str(name).strip().upper()
    level = int(text) if text.isdigit() else logging.getLevelName(text)
    if not isinstance(level, int):
        raise ConfigurationError(f"regiq setting job_log_level: unknown level {name!r}")
    return level


@dataclass(frozen=True)
class Settings:
    """Frozen regiq-tasks settings; build with :meth:`from_app` or :meth:`from_env`."""

    redis_url: str = DEFAULT_REDIS_URL
    broker_url: str | None = None
    result_backend: str | None = None
    database_url: str = DEFAULT_DATABASE_URL
    key_prefix: str = DEFAULT_KEY_PREFIX
    progress_interval: float = DEFAULT_PROGRESS_INTERVAL
    backend_progress_interval: float = DEFAULT_BACKEND_PROGRESS_INTERVAL
    live_ttl: float = DEFAULT_LIVE_TTL
    lost_after: float = DEFAULT_LOST_AFTER
    message_lost_after: float = DEFAULT_MESSAGE_LOST_AFTER
    cancel_grace: float = DEFAULT_CANCEL_GRACE
    live_max_rate: float = DEFAULT_LIVE_MAX_RATE
    api_tokens: str = ""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    alert_queue: str = DEFAULT_ALERT_QUEUE
    failure_burst: str = DEFAULT_FAILURE_BURST
    alert_webhook_url: str = ""
    alert_webhook_format: str = "json"
    flush_interval: float = DEFAULT_FLUSH_INTERVAL
    events_maxlen: int = DEFAULT_EVENTS_MAXLEN
    archive_batch: int = DEFAULT_ARCHIVE_BATCH
    redis_timeout: float = DEFAULT_REDIS_TIMEOUT
    resource_interval: float = DEFAULT_RESOURCE_INTERVAL
    auto_migrate: bool = DEFAULT_AUTO_MIGRATE
    metrics_retention_days: int = DEFAULT_METRICS_RETENTION_DAYS
    history_retention_days: int = DEFAULT_HISTORY_RETENTION_DAYS
    health_timeout: float = DEFAULT_HEALTH_TIMEOUT
    archive_lag: float = DEFAULT_ARCHIVE_LAG
    history_query_timeout: float = DEFAULT_HISTORY_QUERY_TIMEOUT
    alert_watch_interval: float = DEFAULT_ALERT_WATCH_INTERVAL
    alert_queue_wait: float = DEFAULT_ALERT_QUEUE_WAIT
    alert_queue_wait_for: float = 0.0
    alert_no_consumer_for: float = DEFAULT_ALERT_NO_CONSUMER_FOR
    alert_archive_lag_for: float = 0.0
    alert_worker_offline_for: float = 0.0
    alert_disk: float = DEFAULT_ALERT_DISK
    alert_disk_critical: float = DEFAULT_ALERT_DISK_CRITICAL
    alert_disk_for: float = 0.0
    alert_host_memory: float = DEFAULT_ALERT_HOST_MEMORY
    alert_worker_rss: int = 0
    alert_memory_for: float = DEFAULT_ALERT_RESOURCE_FOR
    alert_host_cpu: float = DEFAULT_ALERT_HOST_CPU
    alert_host_cpu_for: float = DEFAULT_ALERT_RESOURCE_FOR
    alert_job_slow: str = DEFAULT_ALERT_JOB_SLOW
    slow_min_runs: int = DEFAULT_SLOW_MIN_RUNS
    slow_margin: float = DEFAULT_SLOW_MARGIN
    sample_interval: float = DEFAULT_SAMPLE_INTERVAL
    disk_paths: str = DEFAULT_DISK_PATHS
    worker_ttl: float = DEFAULT_WORKER_TTL
    job_log_level: str = DEFAULT_JOB_LOG_LEVEL
    job_log_lines: int = DEFAULT_JOB_LOG_LINES
    job_log_bytes: int = DEFAULT_JOB_LOG_BYTES

    def __post_init__(self) -> None:
        for name in ("progress_interval", "live_ttl", "lost_after", "message_lost_after",
                     "cancel_grace",
                     "flush_interval", "redis_timeout", "resource_interval",
                     "backend_progress_interval", "health_timeout", "archive_lag",
                     "sample_interval", "worker_ttl"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"regiq setting {name} must be > 0")
        for name in ("alert_watch_interval", "alert_queue_wait"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"regiq setting {name} must be > 0")
        for name in ("history_query_timeout", "alert_queue_wait_for", "alert_no_consumer_for",
                     "alert_archive_lag_for",
                     "alert_worker_offline_for", "alert_disk_for", "alert_memory_for",
                     "alert_host_cpu_for", "alert_worker_rss"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"regiq setting {name} must be >= 0")
        for name in ("alert_disk", "alert_disk_critical", "alert_host_memory",
                     "alert_host_cpu"):
            if not 0 < getattr(self, name) <= 100:
                raise ConfigurationError(f"regiq setting {name} must be a percentage in (0, 100]")
        if self.slow_min_runs < 1 or self.slow_margin <= 0:
            raise ConfigurationError("regiq settings slow_min_runs must be >= 1 and "
                                     "slow_margin > 0")
        if self.alert_job_slow.strip().upper() not in _SLOW_SEVERITIES:
            raise ConfigurationError("regiq setting alert_job_slow must be LOW, MEDIUM, "
                                     f"HIGH, CRITICAL or off, not {self.alert_job_slow!r}")
        if self.metrics_retention_days < 3:
            raise ConfigurationError("regiq setting metrics_retention_days must be >= 3")
        if self.history_retention_days < 0:
            raise ConfigurationError("regiq setting history_retention_days must be >= 0 "
                                     "(0 keeps the history forever)")
        if not self.key_prefix:
            raise ConfigurationError("regiq setting key_prefix must not be empty")
        if self.job_log_lines < 0 or self.job_log_bytes <= 0:
            raise ConfigurationError("regiq settings job_log_lines must be >= 0 and "
                                     "job_log_bytes > 0")

    @property
    def job_log_levelno(self) -> int:
        """The number of ``job_log_level``."""
        return level_number(self.job_log_level)

    @property
    def disk_path_list(self) -> tuple[str, ...]:
        """The paths whose disk use a worker samples: ``disk_paths`` split at commas, or
        the working directory and the temporary directory (once if they are the same)."""
        paths = [p.strip() for p in self.disk_paths.split(",") if p.strip()]
        if not paths:
            paths = [os.getcwd(), tempfile.gettempdir()]
        return tuple(dict.fromkeys(paths))

    @property
    def effective_broker_url(self) -> str:
        """The broker URL: ``broker_url`` if set, else the live-store Redis (a Sentinel
        URL in kombu's form)."""
        return self.broker_url or self._store_as_kombu_url()

    @property
    def effective_result_backend(self) -> str:
        """The result backend URL: ``result_backend`` if set, else the live-store Redis."""
        return self.result_backend or self._store_as_kombu_url()

    def _store_as_kombu_url(self) -> str:
        if is_sentinel(self.redis_url):
            return SentinelURL.parse(self.redis_url).kombu_url()
        return self.redis_url

    def sentinel_transport_options(self, url: str) -> dict[str, Any]:
        """Celery transport options for ``url``: the Sentinel service name when ``url``
        is the live store's Sentinel service in kombu's form, else none."""
        if is_sentinel(self.redis_url) and url == self._store_as_kombu_url():
            return {"master_name": SentinelURL.parse(self.redis_url).service}
        return {}

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL with plain ``postgresql://`` mapped to the psycopg 3 driver."""
        url = self.database_url
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):
                return "postgresql+psycopg://" + url[len(plain):]
        return url

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from the environment only."""
        return cls.from_sources({}, os.environ if environ is None else environ)

    @classmethod
    def from_app(cls, app: Any, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from a Celery app's ``regiq_*`` config, then the environment."""
        conf = {k: v for k, v in app.conf.items() if k.startswith("regiq_")}
        return cls.from_sources(conf, os.environ if environ is None else environ)

    @classmethod
    def from_sources(cls, conf: Mapping[str, Any], environ: Mapping[str, str]) -> Settings:
        """Build settings from a ``regiq_*`` mapping and an environment mapping."""
        values: dict[str, Any] = {}
        types = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            raw: Any = conf.get(f"regiq_{f.name}")
            source = f"regiq_{f.name}"
            if raw is None:
                raw = environ.get(f"REGIQ_{f.name.upper()}")
                source = f"REGIQ_{f.name.upper()}"
            if raw is None:
                continue
            values[f.name] = _convert(types[f.name], raw, source)
        return cls(**values)


# How a value from the app's config or the environment becomes a setting of each type.
_CONVERTERS: dict[Any, Callable[[Any], Any]] = {
    bool: _to_bool, int: int, float: float, str: str, str | None: str}


def _convert(kind: Any, raw: Any, source: str) -> Any:
    """``raw`` as a setting of type ``kind``; a bad value names its ``source``."""
    try:
        return _CONVERTERS[kind](raw)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"{source}: {exc}") from None
