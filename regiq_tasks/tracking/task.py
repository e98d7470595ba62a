"""``TrackedTask``: the base class a pipeline author decorates tasks with."""

from __future__ import annotations

import json
import logging
import time
from contextvars import ContextVar
from typing import Any

from celery import Task
from celery.exceptions import Ignore

from regiq_tasks.cancel.enforce import end_revoked, mark_cancelled
from regiq_tasks.errors import RegiqError
from regiq_tasks.states import JobStatus
from regiq_tasks.tracking.runtime import JobRuntime, current_runtime
from regiq_tasks.tracking.tracker import get_tracker
from regiq_tasks.tracking.transitions import progressed

logger = logging.getLogger(__name__)


_publishing: ContextVar[Task | None] = ContextVar("regiq_publishing", default=None)


def publishing_task() -> Task | None:
    """The tracked task whose ``apply_async`` is running in this context, if any."""
    return _publishing.get()


class JobCancelled(RegiqError):
    """Raised inside a tracked task once a cancel was requested for its job."""


class TrackedTask(Task):
    """A Celery task whose every run is tracked, with progress, ETA and cancellation.

    Task options: ``job_type`` (defaults to the task's short name), ``alert_severity``
    (LOW, MEDIUM, HIGH or CRITICAL; default HIGH), ``expected_duration`` (seconds).
    """

    # marks the job before Celery acknowledges its message (tracking/accepted.py)
    Request = "regiq_tasks.tracking.accepted:AcceptedRequest"
    job_type: str | None = None
    alert_severity: str = "HIGH"
    expected_duration: float | None = None
    dont_autoretry_for = (JobCancelled,)  # a cancelled job is never retried

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the body, unless the job was cancelled before it started."""
        if self.request.called_directly:
            return super().__call__(*args, **kwargs)
        rt = current_runtime()
        if rt is None or rt.task is not self:
            return self.run(*args, **kwargs)
        if rt.skip == JobStatus.CANCELLED:
            logger.info("regiq: job %s was cancelled before it started; not running it",
                        rt.job_id)
            end_revoked(self, rt)
        if rt.skip:  # its result stands; Ignore stores no state over it
            logger.warning("regiq: job %s had already ended %s; its message, delivered again, "
                           "is not run", rt.job_id, rt.skip)
            raise Ignore()
        try:
            return self.run(*args, **kwargs)
        except JobCancelled:
            logger.info("regiq: job %s (%s) cancelled: it stopped at a cancel check",
                        rt.job_id, self.name)
            end_revoked(self, rt)

    def apply_async(self, *args: Any, **kwargs: Any) -> Any:
        """Publish as Celery does, letting the publish receiver know which app sends it."""
        token = _publishing.set(self)
        try:
            return super().apply_async(*args, **kwargs)
        finally:
            _publishing.reset(token)

    def _runtime(self) -> JobRuntime | None:
        """This run's tracking state; None if tracking failed to start for it.

        Called outside a worker run it is a programming error (RuntimeError); inside a
        run whose tracking could not start, tracking is skipped: it never breaks the task.
        """
        rt = current_runtime()
        if rt is not None and rt.task is self:
            return rt
        if self.request.called_directly:
            raise RuntimeError(f"{self.name}: progress tracking is only available while the "
                               "task runs in a worker with regiq_tasks installed")
        return None

    def progress(self, current: float, total: float | None = None,
                 message: str | None = None) -> None:
        """Report progress; cheap to call often. Raises JobCancelled once cancelled."""
        rt = current_runtime()
        if rt is None or rt.task is not self:
            rt = self._runtime()
            if rt is None:
                return
        if rt.cancelled:
            raise JobCancelled(f"job {rt.job_id} was cancelled")
        if current < 0 or (total is not None and total <= 0):
            raise ValueError(f"progress: need current >= 0 and total > 0, got "
                             f"current={current!r}, total={total!r}")
        rt.current = current
        if total is not None:
            rt.total = total
        if message is not None:
            rt.message = message
        now = time.monotonic()
        if now >= rt.next_flush:
            self._flush_progress(rt, now)

    def _flush_progress(self, rt: JobRuntime, now: float) -> None:
        tracker = get_tracker(self.app)
        rt.next_flush = now + tracker.settings.progress_interval
        rt.update_rate(now)
        change = progressed(rt)
        change.on_result = lambda _status, cancelled: mark_cancelled(rt, cancelled)
        tracker.submit(change)
        if now >= rt.next_backend:
            rt.next_backend = now + tracker.settings.backend_progress_interval
            self._publish_progress_state(rt)

    def _publish_progress_state(self, rt: JobRuntime) -> None:
        """Send the PROGRESS state to the result backend and a ``task-progress`` event."""
        meta = {"current": rt.current, "total": rt.total, "message": rt.message,
                "percent": round(100.0 * rt.current / rt.total, 2)
                if rt.total and rt.current is not None else None,
                "eta_seconds": rt.eta_seconds(), "rate_per_s": rt.rate}
        try:
            self.update_state(task_id=rt.job_id, state="PROGRESS", meta=meta)
        except Exception as exc:  # tracking never breaks the task
            logger.debug("regiq: PROGRESS state not stored: %s", exc)
        try:  # Flower's task page shows an event's ``result``: the progress goes there
            if self.request.hostname:
                self.send_event("task-progress", retry=False, result=meta, **meta)
        except Exception as exc:
            logger.debug("regiq: task-progress event not sent: %s", exc)

    def check_cancelled(self) -> None:
        """Raise JobCancelled if a cancel was requested for this job."""
        rt = self._runtime()
        if rt is not None and rt.cancelled:
            raise JobCancelled(f"job {rt.job_id} was cancelled")

    def set_metadata(self, **values: Any) -> None:
        """Attach JSON-serialisable key/values to the job record (merged, last wins)."""
        for key, value in values.items():
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                raise ValueError(
                    f"set_metadata: value of {key!r} is not JSON-serialisable") from None
        rt = self._runtime()
        if rt is None:
            return
        rt.metadata.update(values)
        rt.metadata_dirty = True

