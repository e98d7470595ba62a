"""Holds the app a CLI test points ``--app tests.cli_target:app`` at."""

from typing import Any

app: Any = None
