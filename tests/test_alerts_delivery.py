"""Webhook delivery (JSON, Slack, retried while down), install's routing, custom rules, CLI."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable

import pytest
from celery import Celery
from click.testing import CliRunner

from regiq_tasks import ConfigurationError
from regiq_tasks.alerts import (
    AlertDraft,
    AlertEvent,
    FailureBurstRule,
    RuleContext,
    Severity,
    resolve_alert,
    set_rules,
)
from regiq_tasks.alerts.cli import alerts
from regiq_tasks.alerts.evaluate import evaluate
from regiq_tasks.alerts.tasks import WEBHOOK_BACKOFF, webhook_backoff
from regiq_tasks.signals import disconnect
from tests.fixtures import cli_target
from tests.fixtures.alerts import (
    WebhookServer,
    alert_worker,
    alerts_of,
    define_alert_tasks,
    wait_alert,
)
from tests.fixtures.ports import free_port
from tests.fixtures.waiting import wait_for


def test_the_json_webhook_receives_new_and_resolved_alerts(
        make_app: Callable[..., Celery]) -> None:
    with WebhookServer() as hook:
        app = make_app(alert_webhook_url=hook.url)
        define_alert_tasks(app)
        with alert_worker(app):
            job = app.tasks["ta.broken"].delay()
            wait_for(lambda: len(hook.bodies) == 1, 20, "the webhook to get the new alert")
            alert = alerts_of(app)[0]
            resolve_alert(alert["id"], "fixed the parser", "ops", app=app)
            wait_for(lambda: len(hook.bodies) == 2, 20, "the webhook to get the resolution")
    raised, resolved = hook.bodies
    assert raised["event"] == "alert.raised" and raised["alert"]["id"] == alert["id"]
    assert raised["alert"]["details"]["job_id"] == job.id
    assert raised["alert"]["severity"] == "HIGH" and raised["alert"]["status"] == "open"
    assert resolved["event"] == "alert.resolved"
    assert resolved["alert"]["note"] == "fixed the parser"
    assert resolved["alert"]["resolved_by"] == "ops"


def test_the_slack_webhook_gets_a_slack_compatible_body(
        make_app: Callable[..., Celery]) -> None:
    with WebhookServer() as hook:
        app = make_app(alert_webhook_url=hook.url, alert_webhook_format="slack")
        with alert_worker(app):
            app.tasks["t.fail"].delay("bad header")
            wait_for(lambda: hook.bodies, 20, "the webhook to get the alert")
    body = hook.bodies[0]
    assert body["text"] == "[CRITICAL] fail failed: ValueError: bad header"
    attachment = body["attachments"][0]
    assert attachment["color"] == "#7a0019"
    assert {f["title"]: f["value"] for f in attachment["fields"]}["Rule"] == "job_failed"
    assert attachment["text"].startswith("Job: /status/jobs/")


def test_with_the_webhook_down_the_alert_is_stored_and_delivered_once_it_is_back(
        make_app: Callable[..., Celery], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="regiq_tasks.alerts")
    port = free_port()  # nothing listens there yet
    app = make_app(alert_webhook_url=f"http://127.0.0.1:{port}/hook")
    define_alert_tasks(app)
    with alert_worker(app):
        app.tasks["ta.broken"].delay()
        alert = wait_alert(app, rule="job_failed")  # stored while the webhook is down
        wait_for(lambda: any("retrying in" in r.getMessage() for r in caplog.records), 20,
                 "a failed delivery attempt")
        with WebhookServer(port) as hook:
            wait_for(lambda: hook.bodies, 30, "the retried delivery")
    assert [b["alert"]["id"] for b in hook.bodies] == [alert["id"]]
    assert [webhook_backoff(n) for n in range(3)] == [WEBHOOK_BACKOFF * f for f in (1, 2, 4)]


def test_install_routes_the_alert_tasks_and_leaves_the_users_routes_alone(
        make_app: Callable[..., Celery]) -> None:
    app = make_app(alert_queue="ops.alerts")
    router = app.amqp.router
    assert router.route({}, "regiq_tasks.alerts.evaluate")["queue"].name == "ops.alerts"
    user = Celery("user", set_as_current=False)
    user.conf.task_routes = {"pipeline.*": {"queue": "heavy"}}
    from regiq_tasks import install

    try:
        install(user, key_prefix="user-route-test:")
        install(user, key_prefix="user-route-test:")  # twice: still one route of ours
    finally:
        disconnect(user)
    routes = user.conf.task_routes
    assert len(routes) == 2 and routes[1] == {"pipeline.*": {"queue": "heavy"}}
    assert user.amqp.router.route({}, "pipeline.ingest")["queue"].name == "heavy"
    assert user.amqp.router.route({}, "regiq_tasks.alerts.deliver_webhook")[
        "queue"].name == "regiq.alerts"


@pytest.mark.parametrize(("setting", "value"), [
    ("failure_burst", "five per minute"), ("failure_burst", "0/60"),
    ("alert_webhook_format", "xml")])
def test_bad_alert_settings_fail_at_install(setting: str, value: str) -> None:
    from regiq_tasks import install

    with pytest.raises(ConfigurationError, match=setting.upper()):
        install(Celery("bad", set_as_current=False), **{setting: value})


class LongErrorMessages:
    """A custom rule: failures whose message is long get a LOW alert of their own."""

    name = "long_error_message"

    def evaluate(self, event: AlertEvent, ctx: RuleContext) -> Iterable[AlertDraft]:
        message = ((event.get("error") or {}).get("message")) or ""
        if event.kind != "job_failed" or len(message) < 20:
            return []
        return [AlertDraft(self.name, Severity.LOW, f"{self.name}:{event.job_type}",
                           event.job_type, "long error message", {"length": len(message)})]


def test_the_rule_set_is_open_and_configurable(app: Celery) -> None:
    define_alert_tasks(app)
    set_rules(app, [FailureBurstRule(threshold=1, window_s=60), LongErrorMessages()])
    with alert_worker(app):
        app.tasks["ta.broken"].delay("x" * 30)
        wait_alert(app, rule="long_error_message")
        wait_alert(app, rule="failure_burst")
    by_rule = {a["rule"]: a for a in alerts_of(app)}
    assert set(by_rule) == {"failure_burst", "long_error_message"}  # no job_failed rule
    assert by_rule["failure_burst"]["count"] == 1
    assert by_rule["long_error_message"]["severity"] == "LOW"
    assert by_rule["long_error_message"]["details"] == {"length": 30, "job_ids": []}
    # evaluating an event directly (as the alert task does) folds into the same burst
    evaluate(app, {"kind": "job_failed", "job_id": "outside-1",
                   "data": {"type": "parse", "error": {"type": "ValueError", "message": "m"}}})
    assert wait_alert(app, rule="failure_burst", count=2)["details"]["job_id"] == "outside-1"
    with pytest.raises(TypeError, match="set_rules"):
        set_rules(app, [object()])  # type: ignore[list-item]


def test_the_alerts_command_lists_and_resolves(app: Celery) -> None:
    define_alert_tasks(app)
    with alert_worker(app):
        app.tasks["ta.broken"].delay()
        alert = wait_alert(app, rule="job_failed")
    cli_target.app = app
    runner = CliRunner()
    target = ["--app", "tests.fixtures.cli_target:app"]
    try:
        listed = runner.invoke(alerts, ["list", "--status", "open", *target])
        assert listed.exit_code == 0, listed.output
        assert [a["id"] for a in json.loads(listed.output)["items"]] == [alert["id"]]
        done = runner.invoke(alerts, ["resolve", str(alert["id"]), "--note", "rerun",
                                      "--by", "ops", *target])
        assert done.exit_code == 0, done.output
        assert json.loads(done.output)["status"] == "resolved"
        again = runner.invoke(alerts, ["resolve", str(alert["id"]), "--note", "x", *target])
        assert again.exit_code == 1 and "already resolved" in again.output
        bad = runner.invoke(alerts, ["list", "--since", "soon", *target])
        assert bad.exit_code == 2 and "since:" in bad.output
        shown = runner.invoke(alerts, ["show", str(alert["id"]), *target])
        assert json.loads(shown.output)["note"] == "rerun"
    finally:
        cli_target.app = None

