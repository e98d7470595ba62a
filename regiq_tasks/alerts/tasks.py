"""The alert tasks, registered on an app by ``install(app)`` and routed to its alert queue.

* ``regiq_tasks.alerts.evaluate(event)``: rules, store, announce (retried while the
  database or Redis is down).
* ``regiq_tasks.alerts.announce(alert, action)``: log, Socket.IO and webhook for an
  alert resolved elsewhere (the monitor, the CLI).
* ``regiq_tasks.alerts.deliver_webhook(alert, action)``: one POST; retried with
  exponential backoff until it succeeds or ``WEBHOOK_MAX_RETRIES`` is reached.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from redis import RedisError
from sqlalchemy.exc import SQLAlchemyError

from regiq_tasks.alerts import sinks
from regiq_tasks.alerts.evaluate import DELIVER_TASK, announce, evaluate
from regiq_tasks.alerts.hooks import EVALUATE_TASK
from regiq_tasks.alerts.rules import parse_failure_burst
from regiq_tasks.config import Settings
from regiq_tasks.tracking.tracker import get_tracker

logger = logging.getLogger(__name__)

ANNOUNCE_TASK = "regiq_tasks.alerts.announce"
TASK_NAMES = (EVALUATE_TASK, ANNOUNCE_TASK, DELIVER_TASK)
WEBHOOK_MAX_RETRIES = 12  # attempts after the first; with the backoff about 15 minutes
WEBHOOK_BACKOFF = 1.0  # s before the first retry, doubled each time
WEBHOOK_BACKOFF_MAX = 120.0  # s: longest wait between two attempts
EVALUATE_MAX_RETRIES = 10  # retries of an event while the database or Redis is down
_REGISTERED = "_regiq_alert_tasks"


def webhook_backoff(retries: int) -> float:
    """Seconds to wait before retry number ``retries + 1`` of a webhook delivery."""
    return float(min(WEBHOOK_BACKOFF_MAX, WEBHOOK_BACKOFF * 2 ** retries))


def deliver(task: Task, alert: dict[str, Any], action: str) -> int | None:
    """POST the alert to the configured webhook; retry through Celery when it may help."""
    settings = get_tracker(task.app).settings
    if not settings.alert_webhook_url:
        return None
    make_body = sinks.slack_body if settings.alert_webhook_format == "slack" else sinks.json_body
    try:
        return sinks.post_webhook(settings.alert_webhook_url, make_body(alert, action))
    except sinks.WebhookError as exc:
        retries = int(task.request.retries or 0)
        if not exc.retry or retries >= WEBHOOK_MAX_RETRIES:
            logger.error("regiq: webhook delivery of alert #%s (%s) given up after %d "
                         "attempt(s): %s", alert["id"], action, retries + 1, exc)
            return None
        countdown = webhook_backoff(retries)
        logger.warning("regiq: webhook delivery of alert #%s (%s) failed (attempt %d): %s; "
                       "retrying in %g s", alert["id"], action, retries + 1, exc, countdown)
        raise task.retry(countdown=countdown, max_retries=WEBHOOK_MAX_RETRIES) from None


def route_alert_tasks(app: Any, queue: str) -> None:
    """Route the alert tasks to ``queue``; the app's other routes stay as they are."""
    ours = {name: {"queue": queue} for name in TASK_NAMES}
    existing = app.conf.task_routes
    if existing is None:
        others: list[Any] = []
    elif isinstance(existing, (list, tuple)):
        others = [r for r in existing if not (isinstance(r, dict) and set(r) == set(ours))]
    else:
        others = [existing]
    app.conf.task_routes = (ours, *others)


def _define(app: Any) -> None:
    @app.task(name=EVALUATE_TASK, bind=True, shared=False, ignore_result=True, acks_late=True,
              autoretry_for=(SQLAlchemyError, RedisError), retry_backoff=True,
              retry_backoff_max=60, max_retries=EVALUATE_MAX_RETRIES)
    def evaluate_task(self: Task, event: dict[str, Any]) -> int:
        """Turn one event (job failed, lost, overdue) into alerts."""
        return len(evaluate(self.app, event))

    @app.task(name=ANNOUNCE_TASK, bind=True, shared=False, ignore_result=True)
    def announce_task(self: Task, alert: dict[str, Any], action: str) -> None:
        """Announce an alert resolved outside a worker (log, Socket.IO, webhook)."""
        announce(self.app, alert, action)

    @app.task(name=DELIVER_TASK, bind=True, shared=False, ignore_result=True, acks_late=True)
    def deliver_task(self: Task, alert: dict[str, Any], action: str) -> int | None:
        """POST one alert to the webhook, retrying with backoff."""
        return deliver(self, alert, action)


def register_alert_tasks(app: Any) -> None:
    """Check the alert settings, register the alert tasks on ``app`` and route them."""
    settings = Settings.from_app(app)
    parse_failure_burst(settings.failure_burst)
    sinks.check_format(settings.alert_webhook_format)
    if not app.__dict__.get(_REGISTERED):
        _define(app)
        setattr(app, _REGISTERED, True)
    route_alert_tasks(app, settings.alert_queue)
