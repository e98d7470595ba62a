"""Typed errors of regiq-tasks; the monitor maps each to an HTTP status in one place.

Errors carry what a caller acts on as attributes (the bad parameter, the dependency that
is down), so no caller ever reads it back out of the message text.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis import RedisError
from sqlalchemy.exc import SQLAlchemyError

# The dependencies a StoreUnavailable names (as the REST API's 503 message shows them).
LIVE_STORE = "live store (Redis)"
HISTORY_DATABASE = "history database"
ALERT_DATABASE = "alert database"  # the history database, as the alert API names it


class RegiqError(Exception):
    """Root of every error regiq-tasks raises on purpose."""


class ConfigurationError(RegiqError, ValueError):
    """A setting has a value that cannot be used."""


class InvalidParameter(RegiqError, ValueError):
    """A bad argument of the Python API; ``parameter`` names it (the REST API answers 400)."""

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter}: {problem}")
        self.parameter = parameter
        self.problem = problem


class JobNotFound(RegiqError, LookupError):
    """No job with this id is known to the live store or the history."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job with id {job_id!r}")
        self.job_id = job_id


class WorkerNotFound(RegiqError, LookupError):
    """No worker of this name samples itself now or did within ``worker_ttl``."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no worker named {name!r}")
        self.name = name


class JobNotCancellable(RegiqError):
    """The job already reached a final status that a cancel cannot change."""

    def __init__(self, job_id: str, status: str) -> None:
        super().__init__(f"job {job_id!r} is {status} and cannot be cancelled")
        self.job_id = job_id
        self.status = status


class JobNotRetryable(RegiqError):
    """The job cannot be retried: ``reason`` says why (its status, a message no longer
    kept, a retry made already)."""

    def __init__(self, job_id: str, status: str, reason: str) -> None:
        super().__init__(f"job {job_id!r} cannot be retried: {reason}")
        self.job_id = job_id
        self.status = status
        self.reason = reason


class StoreUnavailable(RegiqError):
    """A dependency cannot be used; ``dependency`` names it (:data:`LIVE_STORE`,
    :data:`HISTORY_DATABASE`, ...) and :attr:`summary` says what is wrong with it.

    The message reads ``"<context>: <dependency> <problem>: <detail>"`` (the REST API
    answers 503 with the summary alone: the detail may name hosts and files).
    """

    problem = "unreachable"

    def __init__(self, dependency: str, detail: str, context: str | None = None) -> None:
        where = f"{context}: " if context else ""
        super().__init__(f"{where}{dependency} {self.problem}: {detail}")
        self.dependency = dependency
        self.context = context

    @property
    def summary(self) -> str:
        """The dependency and its problem, e.g. ``"history database unreachable"``."""
        return f"{self.dependency} {self.problem}"


class HistoryQueryTimeout(StoreUnavailable):
    """A history listing ran past ``history_query_timeout`` and was cancelled by the
    database: filters that no index serves together, over a large history."""

    problem = "query timed out"

    def __init__(self, seconds: float, context: str | None = None) -> None:
        self.hint = (f"after {seconds:g} s (REGIQ_HISTORY_QUERY_TIMEOUT): narrow the "
                     "listing with since/until or a more selective filter")
        super().__init__(HISTORY_DATABASE, self.hint, context)
        self.seconds = seconds

    @property
    def summary(self) -> str:
        return f"{self.dependency} {self.problem} {self.hint}"


class HistoryNotFound(StoreUnavailable):
    """The history database (or its schema) does not exist: readers never create it."""

    problem = "not found"

    def __init__(self, detail: str) -> None:
        super().__init__(HISTORY_DATABASE, detail, context="REGIQ_DATABASE_URL")


@contextmanager
def reachable(operation: str, database: str = HISTORY_DATABASE) -> Iterator[None]:
    """Run a block of ``operation`` that reads or writes the stores: a Redis error
    becomes StoreUnavailable naming the live store, an SQL error one naming
    ``database``."""
    try:
        yield
    except RedisError as exc:
        raise StoreUnavailable(LIVE_STORE, str(exc), operation) from exc
    except SQLAlchemyError as exc:
        raise StoreUnavailable(database, str(exc), operation) from exc


class AlertNotFound(RegiqError, LookupError):
    """No alert with this id is stored."""

    def __init__(self, alert_id: int) -> None:
        super().__init__(f"no alert with id {alert_id!r}")
        self.alert_id = alert_id


class AlertAlreadyResolved(RegiqError):
    """The alert was resolved before; a resolution is recorded only once."""

    def __init__(self, alert_id: int, resolved_at: str | None, resolved_by: str | None) -> None:
        super().__init__(f"alert {alert_id} was already resolved at {resolved_at}"
                         + (f" by {resolved_by}" if resolved_by else ""))
        self.alert_id = alert_id
        self.resolved_at = resolved_at
        self.resolved_by = resolved_by
