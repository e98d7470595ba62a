"""``regiq workers``: the workers and their latest resource sample (a table on a
terminal, else JSON), or one worker with its recent samples."""

from __future__ import annotations

from typing import Any

import click

from regiq_tasks.cli.support import APP_HELP, app_option, clean_errors, print_json
from regiq_tasks.cli.tables import Column, Record, json_option, print_listing, when
from regiq_tasks.store.filters import DEFAULT_LIMIT


def _percent(value: float | None) -> str:
    return f"{value:.0f}%" if value is not None else ""


def _mib(value: int | None) -> str:
    return f"{value / 2**20:.0f} MiB" if value is not None else ""


def _fullest_disk(worker: Record) -> str:
    disks = [d for d in worker["host"].get("disk") or [] if d.get("used_percent") is not None]
    if not disks:
        return ""
    worst = max(disks, key=lambda d: d["used_percent"])
    return f"{worst['used_percent']:.0f}% {worst['path']}"


WORKER_COLUMNS = [
    Column("name", lambda w: w["name"]),
    Column("alive", lambda w: "yes" if w["alive"] else "no"),
    Column("last seen (UTC)", lambda w: when(w.get("last_seen"))),
    Column("pool", lambda w: w.get("pool")),
    Column("busy", lambda w: f"{w.get('busy')}/{w.get('concurrency')}", "right"),
    Column("cpu", lambda w: _percent(w.get("cpu_percent")), "right"),
    Column("rss", lambda w: _mib(w.get("rss_bytes")), "right"),
    Column("host cpu", lambda w: _percent(w["host"].get("cpu_percent")), "right"),
    Column("host mem", lambda w: _percent(w["host"].get("memory_percent")), "right"),
    Column("fullest disk", _fullest_disk),
]


@click.command()
@click.argument("name", required=False)
@click.option("--limit", type=int, default=DEFAULT_LIMIT, show_default=True)
@click.option("--cursor", help="next_cursor of the previous page.")
@click.option("--app", "app_spec", help=APP_HELP)
@json_option
def workers(name: str | None, limit: int, cursor: str | None, app_spec: str | None,
            as_json: bool) -> None:
    """List the workers with their latest resource sample (alive or not, until gone);
    with NAME, print that worker and its recent samples as JSON."""
    from regiq_tasks.resources.workers import get_worker, list_workers

    with clean_errors():
        app = app_option(app_spec)
        if name is not None:
            print_json(get_worker(name, app=app))
            return
        page: dict[str, Any] = list_workers(limit=limit, cursor=cursor, app=app)
    print_listing(page, WORKER_COLUMNS, "Workers", as_json)
