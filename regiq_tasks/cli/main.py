"""The ``regiq`` command: demo, database migrations, jobs, workers, monitor and tokens."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from typing import Any

import click

from regiq_tasks.alerts.cli import alerts
from regiq_tasks.cli.health import health
from regiq_tasks.cli.support import APP_HELP, app_option, clean_errors, print_json
from regiq_tasks.cli.tables import JOB_COLUMNS, json_option, print_listing
from regiq_tasks.cli.top import top
from regiq_tasks.config import Settings
from regiq_tasks.resources.cli import workers


@click.group()
@click.version_option(package_name="regiq-tasks")
def main() -> None:
    """regiq-tasks: tracked Celery jobs with progress, cancellation and history."""


@main.command()
@click.option("--redis-url", help="Use this Redis instead of starting a private one.")
@click.option("--database-url", help="History database (default: SQLite in ./regiq-demo).")
@click.option("--jobs", "jobs", type=click.IntRange(1, 50), default=4, show_default=True,
              help="Number of document pipelines to run.")
@click.option("--duration", type=click.FloatRange(1, 3600), default=20.0, show_default=True,
              help="Length of the long job, in seconds.")
@click.option("--workdir", default="regiq-demo", show_default=True,
              help="Folder for the private Redis, the history and the logs.")
@click.option("--exit-when-done", is_flag=True,
              help="Stop everything once the pipeline ended and its summary is printed "
                   "(default: keep the monitor and the worker up until Ctrl-C).")
def demo(redis_url: str | None, database_url: str | None, jobs: int, duration: float,
         workdir: str, exit_when_done: bool) -> None:
    """Run a sample regulatory-document pipeline with live progress, then its history;
    the monitor and the worker keep running until Ctrl-C (or --exit-when-done)."""
    from regiq_tasks.demo import run_demo

    sys.exit(run_demo(redis_url=redis_url, database_url=database_url, jobs=jobs,
                      duration=duration, workdir=workdir, exit_when_done=exit_when_done))


@main.group()
def db() -> None:
    """The history database."""


def _database_url(url: str | None) -> str:
    return Settings(database_url=url).sqlalchemy_url if url else Settings.from_env().sqlalchemy_url


@db.command("upgrade")
@click.option("--database-url", help="Default: REGIQ_DATABASE_URL or the SQLite default.")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(database_url: str | None, revision: str) -> None:
    """Bring the history schema to a revision (Alembic migrations shipped in the package)."""
    from regiq_tasks.history.db import current_revision, upgrade

    with clean_errors():
        url = _database_url(database_url)
        upgrade(url, revision)
        click.echo(f"history schema at {current_revision(url)}")


@db.command("current")
@click.option("--database-url", help="Default: REGIQ_DATABASE_URL or the SQLite default.")
def db_current(database_url: str | None) -> None:
    """Print the history schema's current revision."""
    from regiq_tasks.history.db import current_revision

    click.echo(current_revision(_database_url(database_url)) or "(empty)")


@main.group()
def jobs() -> None:
    """Inspect tracked jobs."""


def _listing_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--app", "app_spec", help=APP_HELP),
        click.option("--status"), click.option("--type", "type_"), click.option("--worker"),
        click.option("--pipeline", "pipeline_id"), click.option("--since"),
        click.option("--until"), click.option("--limit", type=int, default=50),
        click.option("--cursor"),
    ]):
        fn = option(fn)
    return fn


@jobs.command("list")
@_listing_options
@click.option("--history", is_flag=True, help="List archived jobs from SQL instead.")
@json_option
def jobs_list(app_spec: str | None, type_: str | None, history: bool, as_json: bool,
              **filters: Any) -> None:
    """List live (or archived) jobs, newest first: a table on a terminal, else JSON."""
    from regiq_tasks.api import get_history, list_jobs

    with clean_errors():
        fetch = get_history if history else list_jobs
        page = fetch(type=type_, app=app_option(app_spec), **filters)
    print_listing(page, JOB_COLUMNS, "Archived jobs" if history else "Live jobs", as_json)


@jobs.command("show")
@click.argument("job_id")
@click.option("--app", "app_spec", help=APP_HELP)
def jobs_show(job_id: str, app_spec: str | None) -> None:
    """Show one job's record as JSON."""
    from regiq_tasks.api import get_job

    with clean_errors():
        job = get_job(job_id, app=app_option(app_spec))
    if job is None:
        raise click.ClickException(f"no job with id {job_id!r}")
    print_json(job)


@jobs.command("cancel")
@click.argument("job_id", required=False)
@click.option("--pipeline", "pipeline_id", help="Cancel every unfinished job of this pipeline.")
@click.option("--reason", required=True, help="Why (kept on the job and in history).")
@click.option("--terminate", is_flag=True,
              help="Terminate a job still running after the cancel grace period.")
@click.option("--requested-by", default=None, help="Who asks (default: the OS user).")
@click.option("--app", "app_spec", help=APP_HELP)
def jobs_cancel(job_id: str | None, pipeline_id: str | None, reason: str, terminate: bool,
                requested_by: str | None, app_spec: str | None) -> None:
    """Cancel a job (JOB_ID) or a whole pipeline (--pipeline); print the result as JSON."""
    from regiq_tasks.cancel.request import cancel_job, cancel_pipeline

    if (job_id is None) == (pipeline_id is None):
        raise click.UsageError("give either JOB_ID or --pipeline PIPELINE_ID")
    who = requested_by or getpass.getuser()
    with clean_errors():
        app = app_option(app_spec)
        if pipeline_id is not None:
            print_json(cancel_pipeline(pipeline_id, reason, who, terminate, app=app))
        else:
            print_json(cancel_job(job_id, reason, who, terminate, app=app))  # type: ignore[arg-type]


@jobs.command("retry")
@click.argument("job_id")
@click.option("--requested-by", default=None, help="Who asks (default: the OS user).")
@click.option("--app", "app_spec", help=APP_HELP)
def jobs_retry(job_id: str, requested_by: str | None, app_spec: str | None) -> None:
    """Publish a failed, lost or cancelled job again; print the new job as JSON."""
    from regiq_tasks.retry.request import retry_job

    with clean_errors():
        print_json(retry_job(job_id, requested_by or getpass.getuser(),
                             app=app_option(app_spec)))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option("--app", "app_spec", help=APP_HELP)
def monitor(host: str, port: int, app_spec: str | None) -> None:
    """Serve the monitor (REST API) with Flask-SocketIO's server, threading mode."""
    from regiq_tasks.monitor.serve import serve

    with clean_errors():
        celery_app = app_option(app_spec)
        _warn_without_history(celery_app)
        click.echo(f"regiq monitor on http://{host}:{port}/ (GET /healthz; the API needs a "
                   "token: REGIQ_API_TOKENS or `regiq token create`)")
        serve(host, port, {"REGIQ_CELERY_APP": celery_app})


def _warn_without_history(celery_app: Any) -> None:
    """Say so when the history database is missing (the monitor never creates it)."""
    from sqlalchemy.exc import SQLAlchemyError

    from regiq_tasks.errors import HistoryNotFound
    from regiq_tasks.history.db import open_existing
    from regiq_tasks.tracking.tracker import get_tracker

    try:
        open_existing(get_tracker(celery_app).settings.sqlalchemy_url).dispose()
    except HistoryNotFound as exc:
        click.echo(f"warning: {exc}; until then history, alerts and stored tokens answer "
                   "503", err=True)
    except SQLAlchemyError:
        pass  # unreachable for now: every request that needs it says so (503)


@main.group()
def token() -> None:
    """API tokens of the monitor (stored hashed in the history database)."""


def _token_engine(database_url: str | None, create: bool = False) -> Any:
    """The history engine for tokens: ``token create`` migrates (and creates) the
    database, listing and revoking never create one."""
    from regiq_tasks.history.db import make_engine, open_existing, upgrade

    url = _database_url(database_url)
    if not create:
        return open_existing(url)
    upgrade(url)
    return make_engine(url)


DB_HELP = "Default: REGIQ_DATABASE_URL or the SQLite default."


@token.command("create")
@click.option("--role", required=True, type=click.Choice(["viewer", "operator", "admin"]))
@click.option("--name", required=True, help="Who holds it (recorded as requested_by).")
@click.option("--database-url", help=DB_HELP)
def token_create(role: str, name: str, database_url: str | None) -> None:
    """Create a token and print it once (only its hash is kept)."""
    from regiq_tasks.history.tokens import create_token

    with clean_errors():
        record, secret = create_token(_token_engine(database_url, create=True), name, role)
    click.echo(f"token {record['id']} ({record['name']}, {record['role']}); shown only now:")
    click.echo(secret)


@token.command("list")
@click.option("--database-url", help=DB_HELP)
def token_list(database_url: str | None) -> None:
    """List tokens as JSON (ids, names, roles, dates; never the secrets)."""
    from regiq_tasks.history.tokens import list_tokens

    with clean_errors():
        print_json(list_tokens(_token_engine(database_url)))


@token.command("revoke")
@click.argument("token_id", type=int)
@click.option("--database-url", help=DB_HELP)
def token_revoke(token_id: int, database_url: str | None) -> None:
    """Revoke a token by id; it stops working at once."""
    from regiq_tasks.history.tokens import revoke_token

    with clean_errors():
        if not revoke_token(_token_engine(database_url), token_id):
            raise click.ClickException(f"no active token with id {token_id}")
    click.echo(f"token {token_id} revoked")


main.add_command(alerts)
main.add_command(top)
main.add_command(health)
main.add_command(workers)


if __name__ == "__main__":  # pragma: no cover
    main()
