"""Alerts: rules turn failed, lost and overdue jobs into deduplicated alerts.

A final failure is handed from the worker to a Celery task on the alert queue
(``REGIQ_ALERT_QUEUE``, default ``regiq.alerts``); that task runs the rules, upserts the
``alerts`` table (one open row per fingerprint) and announces new alerts to the log,
Socket.IO and the webhook. See ``docs/alerts.md``.
"""

from __future__ import annotations

from regiq_tasks.alerts.evaluate import rules_for, set_rules
from regiq_tasks.alerts.models import Alert, AlertStatus, Severity
from regiq_tasks.alerts.rules import (
           AlertDraft,
           AlertEvent,
           FailureBurstRule,
           JobFailedRule,
           JobLostRule,
           JobOverdueRule,
           Rule,
           RuleContext,
           default_rules,
)
from regiq_tasks.alerts.service import alert_statistics, get_alert, list_alerts, resolve_alert

__all__ = ["Alert", "AlertDraft", "AlertEvent", "AlertStatus", "FailureBurstRule",
           "JobFailedRule", "JobLostRule", "JobOverdueRule", "Rule", "RuleContext", "Severity",
           "alert_statistics", "default_rules", "get_alert", "list_alerts", "resolve_alert",
           "rules_for", "set_rules"]
