"""``regiq alerts``: list and resolve alerts from the shell (JSON output)."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from celery.utils.imports import symbol_by_name

from ..errors import RegiqError

APP_HELP = "Celery app as module:attribute (default: the bundled regiq_tasks app)."


def _load_app(spec: str | None) -> Any:
    if spec is None:
        from ..celery import app

        return app
    try:
        return symbol_by_name(spec)
    except (ImportError, AttributeError) as exc:
        raise click.BadParameter(f"cannot load {spec!r}: {exc}", param_hint="--app") from None


@contextmanager
def _clean_errors() -> Iterator[None]:
    """Bad input and typed errors as one line, never a traceback."""
    try:
        yield
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except RegiqError as exc:
        raise click.ClickException(str(exc)) from None


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


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
def alerts_list(app_spec: str | None, **filters: Any) -> None:
    """List alerts, newest first, as JSON."""
    from .service import list_alerts

    with _clean_errors():
        _print_json(list_alerts(app=_load_app(app_spec), **filters))


@alerts.command("show")
@click.argument("alert_id", type=int)
@click.option("--app", "app_spec", help=APP_HELP)
def alerts_show(alert_id: int, app_spec: str | None) -> None:
    """Show one alert as JSON."""
    from .service import get_alert

    with _clean_errors():
        _print_json(get_alert(alert_id, app=_load_app(app_spec)))


@alerts.command("resolve")
@click.argument("alert_id", type=int)
@click.option("--note", required=True, help="What was done (kept on the alert).")
@click.option("--by", "resolved_by", default=None, help="Who resolves (default: the OS user).")
@click.option("--app", "app_spec", help=APP_HELP)
def alerts_resolve(alert_id: int, note: str, resolved_by: str | None,
                   app_spec: str | None) -> None:
    """Resolve an open alert with a note; print it as JSON."""
    from .service import resolve_alert

    with _clean_errors():
        _print_json(resolve_alert(alert_id, note, resolved_by or getpass.getuser(),
                                  app=_load_app(app_spec)))
