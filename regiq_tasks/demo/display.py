"""Rich renderables of the demo: live job progress and the history summary.

Pure functions from job records (the dicts of ``list_jobs``/``get_history``) to rich
renderables, so that they are testable by rendering into a string console.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from regiq_tasks.states import ACTIVE_STATUSES, JobStatus

MAX_ROWS = 14  # rows of the live table: running first, then queued, then finished ones
BAR_WIDTH = 20  # characters of a job's progress bar
STATUS_STYLE = {"queued": "cyan", "running": "bold blue", "retrying": "yellow",
                "succeeded": "green", "failed": "bold red", "cancelled": "magenta",
                "lost": "red", "waiting": "dim"}
_ORDER = {JobStatus.RUNNING: 0, JobStatus.RETRYING: 0, JobStatus.QUEUED: 1}


def format_seconds(seconds: float | None) -> str:
    """Seconds as ``850ms``, ``4.2s`` or ``2m05s``; an empty string for None."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def status_text(status: str) -> Text:
    """A status word in its colour."""
    return Text(status, style=STATUS_STYLE.get(status, ""))


def job_label(job: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """The demo's label of a job (``fetch #1``), else its task's short name."""
    return labels.get(job["id"]) or str(job.get("name") or "?").rsplit(".", 1)[-1]


def status_counts(jobs: Iterable[Mapping[str, Any]], waiting: int = 0) -> Text:
    """One line with the number of jobs in each status, in lifecycle order."""
    counts = Counter(job["status"] for job in jobs)
    if waiting:
        counts["waiting"] = waiting
    order = ["waiting", *(s.value for s in JobStatus)]
    text = Text()
    for status in (s for s in order if counts[s]):
        if text:
            text.append("  ")
        text.append(f"{status} {counts[status]}", style=STATUS_STYLE.get(status, ""))
    return text or Text("no jobs yet", style="dim")


def _percent(job: Mapping[str, Any]) -> float:
    if job["status"] == JobStatus.SUCCEEDED:
        return 100.0
    return float((job.get("progress") or {}).get("percent") or 0.0)


def _timing(job: Mapping[str, Any]) -> str:
    if job["status"] in ACTIVE_STATUSES:
        eta = job.get("eta_seconds")
        return f"ETA {format_seconds(eta)}" if eta is not None else ""
    return format_seconds(job.get("duration_s"))


def _message(job: Mapping[str, Any]) -> str:
    error = job.get("error")
    if job["status"] == JobStatus.FAILED and error:
        return f"{error.get('type')}: {error.get('message')}"
    return str((job.get("progress") or {}).get("message") or "")


def pick_rows(jobs: Sequence[Mapping[str, Any]],
              max_rows: int = MAX_ROWS) -> list[Mapping[str, Any]]:
    """The jobs worth a row: all active ones first (running before queued), then the latest
    finished ones, at most ``max_rows``; input order is kept within each group."""
    active = sorted((j for j in jobs if j["status"] in ACTIVE_STATUSES),
                    key=lambda j: _ORDER.get(j["status"], 2))
    finished = [j for j in jobs if j["status"] not in ACTIVE_STATUSES]
    finished.sort(key=lambda j: j.get("finished_at") or "")
    room = max(0, max_rows - len(active))
    return active[:max_rows] + (finished[-room:] if room else [])


def jobs_table(jobs: Sequence[Mapping[str, Any]], labels: Mapping[str, str],
               max_rows: int = MAX_ROWS) -> Table:
    """A table with one row and progress bar per shown job."""
    table = Table(box=None, pad_edge=False, expand=True)
    table.add_column("job", no_wrap=True, min_width=15, max_width=18)
    table.add_column("status", no_wrap=True, min_width=9)
    table.add_column("progress", no_wrap=True, width=BAR_WIDTH)
    table.add_column("%", justify="right", no_wrap=True, min_width=3)
    table.add_column("time", justify="right", no_wrap=True, min_width=8)
    table.add_column("message", no_wrap=True, overflow="ellipsis", ratio=1)
    for job in pick_rows(jobs, max_rows):
        percent = _percent(job)
        bar = ProgressBar(total=100.0, completed=percent, width=BAR_WIDTH,
                          pulse=job["status"] == JobStatus.RUNNING and not percent,
                          finished_style="green" if job["status"] != "failed" else "red")
        table.add_row(job_label(job, labels), status_text(job["status"]), bar,
                      f"{percent:.0f}", _timing(job), _message(job))
    return table


def live_view(jobs: Sequence[Mapping[str, Any]], labels: Mapping[str, str], waiting: int,
              elapsed: float, max_rows: int = MAX_ROWS) -> RenderableType:
    """The live display: status counts and elapsed time over the table of jobs."""
    header = Text.assemble(("regiq demo ", "bold"), (f"{format_seconds(elapsed)}  ", "dim"),
                           status_counts(jobs, waiting))
    hidden = len(jobs) - len(pick_rows(jobs, max_rows))
    parts: list[RenderableType] = [header, jobs_table(jobs, labels, max_rows)]
    if hidden > 0:
        parts.append(Text(f"... and {hidden} more", style="dim"))
    return Group(*parts)


def history_summary(items: Iterable[Mapping[str, Any]]) -> Table:
    """Archived jobs per type: count, succeeded, failed, cancelled, mean and max duration."""
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    for job in sorted(items, key=lambda j: j.get("created_at") or ""):
        by_type.setdefault(str(job.get("type")), []).append(job)
    table = Table(title="History (SQL archive)", title_justify="left")
    for name, justify in (("type", "left"), ("jobs", "right"), ("succeeded", "right"),
                          ("failed", "right"), ("cancelled", "right"), ("mean duration", "right"),
                          ("max duration", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for job_type, jobs in by_type.items():
        counts = Counter(j["status"] for j in jobs)
        durations = [j["duration_s"] for j in jobs if j.get("duration_s") is not None]
        mean = sum(durations) / len(durations) if durations else None
        table.add_row(job_type, str(len(jobs)), str(counts[JobStatus.SUCCEEDED]),
                      Text(str(counts[JobStatus.FAILED]),
                           style="red" if counts[JobStatus.FAILED] else ""),
                      Text(str(counts[JobStatus.CANCELLED]),
                           style=STATUS_STYLE["cancelled"] if counts[JobStatus.CANCELLED] else ""),
                      format_seconds(mean), format_seconds(max(durations, default=None)))
    return table


def failure_panel(job: Mapping[str, Any], labels: Mapping[str, str]) -> Panel:
    """A failed job's error type and message, framed."""
    error = job.get("error") or {}
    body = Text.assemble((f"{error.get('type', 'Error')}: ", "bold red"),
                         str(error.get("message") or ""))
    return Panel(body, title=f"{job_label(job, labels)} failed ({job['id']})",
                 title_align="left", border_style="red")


def results_table(summaries: Sequence[Mapping[str, Any]]) -> Table:
    """What the pipelines found: obligations and risk per batch or jurisdiction."""
    table = Table(title="Pipeline results", title_justify="left")
    for name in ("pipeline", "documents", "obligations", "mean risk", "high", "critical"):
        table.add_column(name, justify="left" if name == "pipeline" else "right")
    for summary in summaries:
        levels = summary.get("by_level") or {}
        table.add_row(str(summary.get("label")), str(summary.get("documents", "")),
                      str(summary.get("obligations")), f"{summary.get('mean_risk', 0):.1f}",
                      str(levels.get("high", 0)), str(levels.get("critical", 0)))
    return table


def summary_view(history: Sequence[Mapping[str, Any]], results: Sequence[Mapping[str, Any]],
                 labels: Mapping[str, str], unexpected: Sequence[str]) -> RenderableType:
    """The end of the demo: history per type, pipeline results, failures and a verdict."""
    parts: list[RenderableType] = [Text(), history_summary(history)]
    if results:
        parts.append(results_table(results))
    parts += [failure_panel(job, labels) for job in history
              if job["status"] == JobStatus.FAILED]
    if unexpected:
        parts.append(Text(f"Unexpected outcomes: {'; '.join(unexpected)}", style="bold red"))
    else:
        parts.append(Text.assemble(("Demo complete: ", "bold green"),
                                   "every job ended as planned (validate feed fails on purpose)."))
    return Group(*parts)
