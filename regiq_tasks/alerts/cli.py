"""``regiq alerts``: list and resolve alerts from the shell (JSON, or a table when a
listing is printed on a terminal)."""

from __future__ import annotations

import getpass
from typing import Any

import click

from regiq_tasks.cli.support import APP_HELP, app_option, clean_errors, print_json
from regiq_tasks.cli.tables import Column, json_option, print_listing, when

ALERT_COLUMNS = [
    Column("id", lambda a: a["id"], "right"), Column("severity", lambda a: a["severity"]),
    Column("status", lambda a: a["status"]), Column("rule", lambda a: a["rule"]),
    Column("count", lambda a: a["count"], "right"),
    Column("last seen (UTC)", lambda a: when(a.get("last_seen"))),
    Column("title", lambda a: a.get("title")),
]


@click.group()
def alerts() -> None:
    """Alerts raised by failed, lost and overdue jobs."""


@alerts.command("list")
@click.option("--status", type=click.Choice(["open", "resolved"]))
@click.option("--severity", type=click.Choice(["LOW", "MEDIUM", "HIGH", "CRITICAL"],
                                              case_sensitive=False))
@click.option("--rule", help="job_failed, job_lost, job_overdue, failure_burst, ...")
@click.option("--since", help="ISO-8601: alerts seen at or after this time.")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--cursor", help="next_cursor of the previous page.")
@click.option("--app", "app_spec", help=APP_HELP)
@json_option
def alerts_list(app_spec: str | None, as_json: bool, **filters: Any) -> None:
    """List alerts, newest first: a table on a terminal, else JSON."""
    from regiq_tasks.alerts.service import list_alerts

    with clean_errors():
        page = list_alerts(app=app_option(app_spec), **filters)
    print_listing(page, ALERT_COLUMNS, "Alerts", as_json)


@alerts.command("show")
@click.argument("alert_id", type=int)
@click.option("--app", "app_spec", help=APP_HELP)
def alerts_show(alert_id: int, app_spec: str | None) -> None:
    """Show one alert as JSON."""
    from regiq_tasks.alerts.service import get_alert

    with clean_errors():
        print_json(get_alert(alert_id, app=app_option(app_spec)))


@alerts.command("resolve")
@click.argument("alert_id", type=int)
@click.option("--note", required=True, help="What was done (kept on the alert).")
@click.option("--by", "resolved_by", default=None, help="Who resolves (default: the OS user).")
@click.option("--app", "app_spec", help=APP_HELP)
def alerts_resolve(alert_id: int, note: str, resolved_by: str | None,
                   app_spec: str | None) -> None:
    """Resolve an open alert with a note; print it as JSON."""
    from regiq_tasks.alerts.service import resolve_alert

    with clean_errors():
        print_json(resolve_alert(alert_id, note, resolved_by or getpass.getuser(),
                                  app=app_option(app_spec)))
