"""What every ``regiq`` sub-command shares: loading the app, clean errors, JSON output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from regiq_tasks.errors import ConfigurationError, RegiqError
from regiq_tasks.install import load_app

APP_HELP = ("Celery app as module:attribute, imported from the current directory as "
            "`celery -A` does (default: the bundled regiq_tasks app).")


def app_option(spec: str | None) -> Any:
    """The Celery app ``--app`` names (:func:`~regiq_tasks.install.load_app`); a name
    that finds none is a usage error of the option."""
    try:
        return load_app(spec)
    except (ImportError, AttributeError) as exc:
        raise click.BadParameter(f"cannot load {spec!r}: {exc}", param_hint="--app") from None


@contextmanager
def clean_errors() -> Iterator[None]:
    """Show bad input and typed errors as one line, never a traceback."""
    try:
        yield
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except RegiqError as exc:
        raise click.ClickException(str(exc)) from None


def print_json(value: Any) -> None:
    """Print a value as indented JSON."""
    click.echo(json.dumps(value, indent=2, default=str))
