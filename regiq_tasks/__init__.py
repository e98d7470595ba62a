"""regiq-tasks: tracked Celery tasks with progress, ETA, cancellation, history and alerts.

The bundled Celery app is ``regiq_tasks.app`` (defined in ``regiq_tasks.celery`` and
created only when first used, so that importing this package never creates an app):
``celery -A regiq_tasks worker``.
"""

from __future__ import annotations

from typing import Any

from regiq_tasks.api import get_history, get_job, get_pipeline, list_jobs
from regiq_tasks.cancel.request import cancel_job, cancel_pipeline
from regiq_tasks.config import Settings
from regiq_tasks.errors import (
    ConfigurationError,
    JobNotCancellable,
    JobNotFound,
    JobNotRetryable,
    RegiqError,
    StoreUnavailable,
    WorkerNotFound,
)
from regiq_tasks.health import get_health
from regiq_tasks.install import install
from regiq_tasks.job_logs import get_job_logs
from regiq_tasks.metrics.performance import get_performance
from regiq_tasks.metrics.realtime import get_realtime
from regiq_tasks.resources.workers import get_worker, list_workers
from regiq_tasks.retry.request import retry_job
from regiq_tasks.states import JobStatus
from regiq_tasks.tracking.task import JobCancelled, TrackedTask

__all__ = ["TrackedTask", "JobCancelled", "install", "get_job", "list_jobs", "get_history",
           "get_pipeline", "get_job_logs", "get_performance", "get_realtime", "get_health",
           "list_workers", "get_worker", "cancel_job", "cancel_pipeline", "retry_job",
           "JobStatus", "Settings", "RegiqError", "ConfigurationError", "JobNotFound",
           "JobNotCancellable", "JobNotRetryable", "StoreUnavailable", "WorkerNotFound"]


def __getattr__(name: str) -> Any:
    # Only the bundled app is lazy: creating a Celery app at import would make it
    # Celery's current app in every process that merely imports regiq_tasks.
    if name == "app":
        from regiq_tasks.celery import app

        return app
    raise AttributeError(f"module 'regiq_tasks' has no attribute {name!r}")
