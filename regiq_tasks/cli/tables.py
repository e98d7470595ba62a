"""What ``regiq`` listings print on a terminal: a readable table per page of records.

A listing prints JSON with ``--json`` or when its output is not a terminal (a pipe, a
file), and a table otherwise, like the other command-line tools of this ecosystem. The
columns of each kind of record are declared next to its command as :class:`Column` lists.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import click
from rich.console import Console
from rich.table import Table

from regiq_tasks.cli.support import print_json

Record = Mapping[str, Any]

JSON_HELP = "Print JSON (the default when the output is not a terminal)."


class Column(NamedTuple):
    """A column of a listing table: its title and how a record shows in it."""

    title: str
    value: Callable[[Record], Any]
    justify: str = "left"


def json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--json`` flag of a listing command (passed as ``as_json``)."""
    return click.option("--json", "as_json", is_flag=True, help=JSON_HELP)(fn)


def wants_json(as_json: bool) -> bool:
    """JSON when asked for or when standard output is not a terminal."""
    return as_json or not sys.stdout.isatty()


def print_listing(page: Mapping[str, Any], columns: Sequence[Column], title: str,
                  as_json: bool) -> None:
    """Print a page (``{"items": [...], "next_cursor": ...}``) as JSON or as a table."""
    if wants_json(as_json):
        print_json(page)
        return
    console = Console()
    console.print(listing_table(page["items"], columns, title))
    if page.get("next_cursor"):
        console.print(f"more: --cursor {page['next_cursor']}", style="dim", soft_wrap=True)


def listing_table(items: Sequence[Record], columns: Sequence[Column], title: str) -> Table:
    """A table with one row per record."""
    table = Table(title=f"{title} ({len(items)})", title_justify="left")
    for column in columns:
        table.add_column(column.title, justify=column.justify,  # type: ignore[arg-type]
                         overflow="fold")
    for item in items:
        table.add_row(*(text(column.value(item)) for column in columns))
    return table


def text(value: Any) -> str:
    """A cell: empty for None, numbers compact, everything else as ``str``."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def when(value: str | None) -> str:
    """An ISO-8601 UTC time as ``YYYY-MM-DD HH:MM:SS`` (a cell is narrow)."""
    return value[:19].replace("T", " ") if value else ""


def seconds(value: float | None) -> str:
    """Seconds with one decimal (``4.2s``), empty for None."""
    return f"{value:.1f}s" if value is not None else ""


def _progress(job: Record) -> str:
    percent = (job.get("progress") or {}).get("percent")
    return f"{percent:.0f}%" if percent is not None else ""


def _job_message(job: Record) -> str:
    error = job.get("error")
    if error:
        return f"{error.get('type')}: {error.get('message')}"
    return str((job.get("progress") or {}).get("message") or "")


JOB_COLUMNS = [
    Column("id", lambda j: j["id"]), Column("type", lambda j: j.get("type")),
    Column("status", lambda j: j["status"]), Column("progress", _progress, "right"),
    Column("created (UTC)", lambda j: when(j.get("created_at"))),
    Column("duration", lambda j: seconds(j.get("duration_s")), "right"),
    Column("worker", lambda j: j.get("worker")), Column("message", _job_message),
]
