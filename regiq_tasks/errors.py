"""Typed errors of regiq-tasks; the monitor maps each to an HTTP status in one place."""

from __future__ import annotations


class RegiqError(Exception):
    """Root of every error regiq-tasks raises on purpose."""


class ConfigurationError(RegiqError, ValueError):
    """A setting has a value that cannot be used."""


class InvalidParameter(RegiqError, ValueError):
    """A bad argument of the Python API; ``parameter`` names it (the REST API answers 400)."""

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter}: {problem}")
        self.parameter = parameter


class JobNotFound(RegiqError, LookupError):
    """No job with this id is known to the live store or the history."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job with id {job_id!r}")
        self.job_id = job_id


class JobNotCancellable(RegiqError):
    """The job already reached a final status that a cancel cannot change."""

    def __init__(self, job_id: str, status: str) -> None:
        super().__init__(f"job {job_id!r} is {status} and cannot be cancelled")
        self.job_id = job_id
        self.status = status


class StoreUnavailable(RegiqError):
    """The live store (Redis) or the history database cannot be reached."""


class HistoryNotFound(StoreUnavailable):
    """The history database (or its schema) does not exist: readers never create it."""


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
