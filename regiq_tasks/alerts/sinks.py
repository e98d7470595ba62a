"""Where alerts go: the log, Socket.IO (through the monitors' message queue), a webhook.

Every new alert and every resolution is announced once. The log and the Socket.IO emit
happen in the announcing process; the webhook is posted by its own Celery task, which
retries with backoff (see ``tasks.py``), so a webhook that is down delays nothing else.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from typing import Any

from regiq_tasks.errors import ConfigurationError
from regiq_tasks.store.keys import Keys

logger = logging.getLogger("regiq_tasks.alerts")

WEBHOOK_FORMATS = ("json", "slack")
WEBHOOK_TIMEOUT = 5.0  # s: connect + read timeout of one webhook POST
SOCKETIO_EVENT = "alert"  # Socket.IO event name of new and resolved alerts
SOCKETIO_NAMESPACE = "/"  # namespace the monitors serve; emitted to every client in it
LOG_LEVELS = {"LOW": logging.INFO, "MEDIUM": logging.WARNING, "HIGH": logging.ERROR,
              "CRITICAL": logging.CRITICAL}
SLACK_COLOURS = {"LOW": "#439fe0", "MEDIUM": "#daa038", "HIGH": "#d00000",
                 "CRITICAL": "#7a0019", "resolved": "#2eb886"}
_EMITTER = "_regiq_alert_emitter"


class WebhookError(Exception):
    """A webhook POST failed; ``retry`` tells whether trying again may help."""

    def __init__(self, message: str, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


def check_format(value: str) -> str:
    """The webhook format, validated (``json`` or ``slack``)."""
    if value not in WEBHOOK_FORMATS:
        raise ConfigurationError(
            f"REGIQ_ALERT_WEBHOOK_FORMAT: expected json or slack, got {value!r}")
    return value


def log_alert(alert: dict[str, Any], action: str) -> None:
    """The log sink: one line per new or resolved alert, at a level by severity."""
    level = logging.INFO if action == "resolved" else LOG_LEVELS.get(alert["severity"],
                                                                      logging.WARNING)
    logger.log(level, "regiq alert %s #%s [%s] %s: %s (count %s)%s", action, alert["id"],
               alert["severity"], alert["rule"], alert["title"], alert["count"],
               f" by {alert['resolved_by']}: {alert['note']}" if action == "resolved" else "")


def json_body(alert: dict[str, Any], action: str) -> dict[str, Any]:
    """The JSON webhook body: ``{"event": "alert.raised"|"alert.resolved", "alert": ...}``."""
    return {"event": f"alert.{action}", "alert": alert}


def slack_body(alert: dict[str, Any], action: str) -> dict[str, Any]:
    """A Slack-compatible body (incoming webhook: ``text`` and one attachment)."""
    resolved = action == "resolved"
    head = "Resolved" if resolved else alert["severity"]
    fields = [{"title": "Rule", "value": alert["rule"], "short": True},
              {"title": "Severity", "value": alert["severity"], "short": True},
              {"title": "Subject", "value": alert["subject"] or "-", "short": True},
              {"title": "Count", "value": str(alert["count"]), "short": True}]
    if resolved:
        fields.append({"title": "Note", "value": f"{alert['note']} ({alert['resolved_by']})",
                       "short": False})
    job_link = (alert.get("details") or {}).get("job_link")
    return {"text": f"[{head}] {alert['title']}",
            "attachments": [{"color": SLACK_COLOURS["resolved" if resolved
                                                    else alert["severity"]],
                             "title": f"Alert #{alert['id']}: {alert['title']}",
                             "text": f"Job: {job_link}" if job_link else "",
                             "fields": fields, "footer": "regiq-tasks"}]}


def post_webhook(url: str, body: dict[str, Any], timeout: float = WEBHOOK_TIMEOUT) -> int:
    """POST ``body`` as JSON; the HTTP status, or WebhookError (retry on 5xx, 429, network)."""
    request = urllib.request.Request(
        url, data=json.dumps(body, default=str).encode(), method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "regiq-tasks-alerts"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        raise WebhookError(f"webhook answered {exc.code}", exc.code >= 500 or exc.code == 429) \
            from None
    except (urllib.error.URLError, OSError) as exc:
        raise WebhookError(f"webhook unreachable: {exc}", True) from None


def emitter(app: Any, redis_url: str, keys: Keys) -> Any:
    """This process's external Socket.IO emitter on the monitors' message queue."""
    cached = app.__dict__.get(_EMITTER)
    if cached is not None and cached[0] == os.getpid():
        return cached[1]
    from flask_socketio import SocketIO

    socketio = SocketIO(message_queue=redis_url, channel=keys.socketio_channel)
    setattr(app, _EMITTER, (os.getpid(), socketio))
    return socketio


def emit_alert(app: Any, redis_url: str, keys: Keys, alert: dict[str, Any]) -> None:
    """Emit ``alert`` to every monitor client; log and go on if Redis cannot take it."""
    try:
        emitter(app, redis_url, keys).emit(SOCKETIO_EVENT, alert, namespace=SOCKETIO_NAMESPACE)
    except Exception:
        logger.warning("regiq: alert #%s not emitted over Socket.IO", alert["id"],
                       exc_info=True)
