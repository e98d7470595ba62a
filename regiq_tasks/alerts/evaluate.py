"""What the alert task does with an event: run the rules, store, announce the new ones.

Runs in the worker that consumes the alert queue. The rule set of an app is its
``set_rules`` choice, else :func:`~regiq_tasks.alerts.rules.default_rules` from the
settings.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from regiq_tasks.alerts import sinks, store
from regiq_tasks.alerts.rules import AlertEvent, Rule, RuleContext, default_rules
from regiq_tasks.history import repository
from regiq_tasks.tracking.tracker import get_tracker

logger = logging.getLogger(__name__)

DELIVER_TASK = "regiq_tasks.alerts.deliver_webhook"
_RULES = "_regiq_alert_rules"


def set_rules(app: Any, rules: Iterable[Rule]) -> None:
    """Use these rules for ``app``'s alerts (call where the app is configured)."""
    chosen = list(rules)
    for rule in chosen:
        if not isinstance(getattr(rule, "name", None), str) or not callable(
                getattr(rule, "evaluate", None)):
            raise TypeError(f"set_rules: {rule!r} has no name and evaluate(event, ctx)")
    setattr(app, _RULES, chosen)


def rules_for(app: Any) -> list[Rule]:
    """The rules in force for ``app``: its ``set_rules`` choice, else the defaults."""
    chosen: list[Rule] | None = app.__dict__.get(_RULES)
    if chosen is None:
        return default_rules(get_tracker(app).settings.failure_burst)
    return chosen


def load_job(app: Any, job_id: str | None) -> dict[str, Any] | None:
    """The job's record from the live store, else the history (None if neither has it)."""
    if not job_id:
        return None
    tracker = get_tracker(app)
    return tracker.store.get(job_id) or repository.get_job(tracker.engine, job_id)


def make_event(app: Any, payload: Mapping[str, Any]) -> AlertEvent:
    """The event a hand-off payload describes, with the job's record loaded."""
    data = dict(payload.get("data") or {})
    job_id = payload.get("job_id")
    return AlertEvent(kind=str(payload["kind"]), job_id=job_id,
                      at=float(payload.get("at") or time.time()),
                      job=load_job(app, job_id), data=data)


def evaluate(app: Any, payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Run every rule on the event; store each draft; announce new alerts, emit repeats."""
    tracker = get_tracker(app)
    event = make_event(app, payload)
    ctx = RuleContext(tracker.redis, tracker.keys)
    alerts = []
    for rule in rules_for(app):
        try:
            drafts = list(rule.evaluate(event, ctx))
        except Exception:
            logger.exception("regiq: alert rule %s failed on %s", rule.name, event.kind)
            continue
        for draft in drafts:
            alert, new = store.raise_alert(tracker.engine, draft)
            if new:
                announce(app, alert, "raised")
            else:  # a repeat: live views see the new count; sinks heard of it once
                sinks.emit_alert(app, tracker.settings.redis_url, tracker.keys, alert)
            alerts.append(alert)
    return alerts


def announce(app: Any, alert: dict[str, Any], action: str) -> None:
    """Log, emit over Socket.IO and queue the webhook delivery of a new/resolved alert."""
    settings = get_tracker(app).settings
    sinks.log_alert(alert, action)
    sinks.emit_alert(app, settings.redis_url, get_tracker(app).keys, alert)
    if settings.alert_webhook_url:
        try:
            app.tasks[DELIVER_TASK].apply_async((alert, action), queue=settings.alert_queue)
        except Exception:
            logger.exception("regiq: webhook delivery of alert #%s not queued", alert["id"])
