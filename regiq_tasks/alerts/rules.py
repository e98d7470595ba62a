"""Alert rules: small objects that turn an event (a job failed, was lost, ran over) into
alert drafts. The rule set is open: anything with a ``name`` and ``evaluate(event, ctx)``
returning drafts is a rule (see :class:`Rule`); ``set_rules(app, [...])`` installs a set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis

from regiq_tasks.alerts.models import FINGERPRINT_LENGTH, TITLE_LENGTH, Severity
from regiq_tasks.alerts.window import FailureWindow
from regiq_tasks.errors import ConfigurationError
from regiq_tasks.store.keys import Keys

MAX_FOLDED_JOBS = 20  # job ids kept in an alert's details (the most recent ones)
TRACEBACK_EXCERPT = 1500  # characters of a traceback's end kept in an alert's details
JOB_LINK = "/status/jobs/{id}"  # REST path of a job, shown in details


@dataclass(frozen=True)
class AlertEvent:
    """Something that happened to a job: ``job_failed``, ``job_lost`` or ``job_overdue``.

    ``job`` is the job record (live store, else history) when known; ``data`` holds
    what the hand-off knew (``type``, ``error``, ``running_for_s``...).
    """

    kind: str
    job_id: str | None
    at: float
    job: Mapping[str, Any] | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> Any:
        """A field of the job record, else of the hand-off data."""
        value = (self.job or {}).get(name)
        return value if value is not None else self.data.get(name)

    @property
    def job_type(self) -> str:
        """The job's type (``unknown`` when neither the record nor the hand-off has one)."""
        return str(self.get("type") or self.get("name") or "unknown")


@dataclass
class AlertDraft:
    """What a rule wants raised; the store folds it into an open alert of its fingerprint."""

    rule: str
    severity: Severity
    fingerprint: str
    subject: str | None
    title: str
    details: dict[str, Any]
    count: int = 1


@dataclass(frozen=True)
class RuleContext:
    """What rules may use besides the event: the live-store Redis and its key names."""

    redis: redis.Redis
    keys: Keys


class Rule(Protocol):
    """An alert rule: a name and an ``evaluate`` that returns zero or more drafts."""

    name: str

    def evaluate(self, event: AlertEvent, ctx: RuleContext) -> Iterable[AlertDraft]:
        """The alerts this event raises under this rule."""
        ...


def fingerprint(rule: str, *parts: str) -> str:
    """``rule:part:...``; hashed (``rule:sha256:...``) when longer than the column."""
    text = ":".join((rule, *parts))
    if len(text) <= FINGERPRINT_LENGTH:
        return text
    return f"{rule}:sha256:{hashlib.sha256(text.encode()).hexdigest()}"


def severity_of(value: Any, default: Severity) -> Severity:
    """A task's ``alert_severity`` as a Severity (``default`` when unset or unknown)."""
    try:
        return Severity(str(value).upper()) if value else default
    except ValueError:
        return default


def job_details(event: AlertEvent) -> dict[str, Any]:
    """Details naming the job: latest id, folded ids, error and traceback excerpt, link."""
    error = event.get("error") or {}
    traceback = error.get("traceback") or ""
    return {"job_id": event.job_id, "job_ids": [event.job_id] if event.job_id else [],
            "job_type": event.job_type, "name": event.get("name"),
            "worker": event.get("worker"), "queue": event.get("queue"),
            "retries": event.get("retries"), "pipeline_id": event.get("pipeline_id"),
            "error": {"type": error.get("type"), "message": error.get("message")}
            if error else None,
            "traceback_excerpt": traceback[-TRACEBACK_EXCERPT:] or None,
            "job_link": JOB_LINK.format(id=event.job_id) if event.job_id else None}


def _title(text: str) -> str:
    return text if len(text) <= TITLE_LENGTH else text[: TITLE_LENGTH - 1] + "…"


@dataclass
class JobFailedRule:
    """A job's final failure (never a retrying one), by job type and error type."""

    default_severity: Severity = Severity.HIGH
    name: str = "job_failed"

    def evaluate(self, event: AlertEvent, ctx: RuleContext) -> Iterable[AlertDraft]:
        """One draft per final failure, severity from the task's ``alert_severity``."""
        if event.kind != "job_failed":
            return []
        error_type = str((event.get("error") or {}).get("type") or "Error")
        message = str((event.get("error") or {}).get("message") or "")
        title = f"{event.job_type} failed: {error_type}" + (f": {message}" if message else "")
        return [AlertDraft(self.name, severity_of(event.get("alert_severity"),
                                                  self.default_severity),
                           fingerprint(self.name, event.job_type, error_type),
                           event.job_type, _title(title), job_details(event))]


@dataclass
class JobLostRule:
    """A job whose process died (``WorkerLostError``) or whose worker vanished."""

    severity: Severity = Severity.HIGH
    name: str = "job_lost"

    def evaluate(self, event: AlertEvent, ctx: RuleContext) -> Iterable[AlertDraft]:
        """One draft per lost job, folded by job type."""
        if event.kind != "job_lost":
            return []
        worker = event.get("worker")
        title = f"{event.job_type} job lost" + (f" on {worker}" if worker else "")
        return [AlertDraft(self.name, self.severity, fingerprint(self.name, event.job_type),
                           event.job_type, _title(title), job_details(event))]


@dataclass
class JobOverdueRule:
    """A job still running past its task's ``expected_duration``."""

    severity: Severity = Severity.MEDIUM
    name: str = "job_overdue"

    def evaluate(self, event: AlertEvent, ctx: RuleContext) -> Iterable[AlertDraft]:
        """One draft per overdue job, folded by job type."""
        if event.kind != "job_overdue":
            return []
        expected = event.get("expected_duration")
        details = {**job_details(event), "expected_duration": expected,
                   "running_for_s": event.data.get("running_for_s")}
        title = f"{event.job_type} job running past its expected {expected} s"
        return [AlertDraft(self.name, self.severity, fingerprint(self.name, event.job_type),
                           event.job_type, _title(title), details)]


@dataclass
class FailureBurstRule:
    """``threshold`` final failures of one job type within ``window_s``: CRITICAL.

    Each burst is its own alert (fingerprint: type and the burst's start); it is raised
    with the failures seen in the window, and every further failure during the burst
    adds one, so ``count`` is the failures seen.
    """

    threshold: int = 5
    window_s: float = 600.0
    severity: Severity = Severity.CRITICAL
    name: str = "failure_burst"

    def evaluate(self, event: AlertEvent, ctx: RuleContext) -> Iterable[AlertDraft]:
        """A draft while the type is in a burst (counting this failure), else none."""
        if event.kind != "job_failed" or not event.job_id:
            return []
        window = FailureWindow(ctx.redis, ctx.keys, self.threshold, self.window_s)
        seen, burst_start, new = window.add(event.job_type, event.job_id)
        if burst_start is None:
            return []
        details = {"job_id": event.job_id, "job_ids": [event.job_id],
                   "job_type": event.job_type, "threshold": self.threshold,
                   "window_s": self.window_s, "burst_started_at": burst_start,
                   "failures_in_window": seen}
        title = (f"{event.job_type}: {seen} failures within {self.window_s:g} s "
                 f"(threshold {self.threshold})")
        return [AlertDraft(self.name, self.severity,
                           fingerprint(self.name, event.job_type, f"{burst_start:.3f}"),
                           event.job_type, _title(title), details, seen if new else 1)]


def parse_failure_burst(spec: str) -> tuple[int, float] | None:
    """``"5/600"`` as (5, 600.0); ``"off"``, ``"0"`` or empty disable the rule (None)."""
    text = (spec or "").strip().lower()
    if text in {"", "0", "off", "none"}:
        return None
    count, sep, seconds = text.partition("/")
    try:
        parsed = (int(count), float(seconds))
    except ValueError:
        parsed = (0, 0.0)
    if not sep or parsed[0] < 1 or parsed[1] <= 0:
        raise ConfigurationError(
            f"REGIQ_FAILURE_BURST: expected COUNT/SECONDS such as 5/600 (or off), got {spec!r}")
    return parsed


def default_rules(failure_burst: str) -> list[Rule]:
    """The built-in rules: job_failed, job_lost, job_overdue and (unless off) failure_burst."""
    rules: list[Rule] = [JobFailedRule(), JobLostRule(), JobOverdueRule()]
    burst = parse_failure_burst(failure_burst)
    if burst is not None:
        rules.append(FailureBurstRule(threshold=burst[0], window_s=burst[1]))
    return rules
