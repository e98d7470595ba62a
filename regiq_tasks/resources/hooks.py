"""The resources feature on the tracking core's hooks: the sampler's start and stop.

:func:`register` (called by ``install(app)``) subscribes ``worker_started`` (start the
sampling thread in the worker's main process, :func:`~regiq_tasks.resources.sampler.start_sampler`)
and ``worker_stopping`` (stop it and remove the worker's samples). A running job's own
resources are the tracking core's (``tracking/runtime.py``, written with its heartbeat).
"""

from __future__ import annotations

from typing import Any

from regiq_tasks.hooks import Hooks
from regiq_tasks.resources.sampler import start_sampler, stop_sampler


def on_worker_started(app: Any, hostname: str | None, worker: Any) -> None:
    """A worker is ready: start sampling it."""
    start_sampler(app, hostname, worker)


def register(hooks: Hooks) -> None:
    """Subscribe the resources feature: sample every worker while it runs."""
    hooks.worker_started.append(on_worker_started)
    hooks.worker_stopping.append(stop_sampler)
