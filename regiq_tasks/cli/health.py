"""``regiq health``: the health document, as a table or JSON, with an exit code to probe.

Exit codes: 0 ``ok``, 1 ``degraded``, 2 ``down`` (the same as the document's status),
so that ``regiq health --app proj.celery:app`` serves as a readiness probe or a cron
check. On a terminal it prints a table of the components and the reasons; with
``--json`` or into a pipe, the document of ``GET /status/system/health``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from regiq_tasks.cli.support import APP_HELP, app_option, clean_errors, print_json
from regiq_tasks.cli.tables import json_option, wants_json

EXIT_CODES = {"ok": 0, "degraded": 1, "down": 2}
STYLES = {"ok": "green", "degraded": "yellow", "down": "bold red"}


@click.command()
@json_option
@click.option("--app", "app_spec", help=APP_HELP)
def health(as_json: bool, app_spec: str | None) -> None:
    """Check Redis, the database, the broker, the archiver and the alert queue.

    Exits 0 when all is ok, 1 when degraded, 2 when down.
    """
    from regiq_tasks.health import get_health

    with clean_errors():
        doc = get_health(app_option(app_spec))
    if wants_json(as_json):
        print_json(doc)
    else:
        Console().print(render(doc))
    sys.exit(EXIT_CODES[doc["status"]])


def render(doc: Mapping[str, Any]) -> Table:
    """The components as rows, the overall status in the title, the reasons below."""
    status = doc["status"]
    table = Table(title=f"regiq health: [{STYLES[status]}]{status}[/]", title_justify="left",
                  caption="\n".join(doc["reasons"]) or None, caption_justify="left")
    table.add_column("component")
    table.add_column("status")
    table.add_column("figures", overflow="fold")
    for name, component in doc["components"].items():
        figures = "  ".join(f"{k} {v}" for k, v in component.items() if k != "status")
        table.add_row(name, f"[{STYLES[component['status']]}]{component['status']}[/]", figures)
    return table
