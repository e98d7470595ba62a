"""The logging handler that keeps a tracked job's log records with the job.

One :class:`JobLogHandler` per process sits on the root logger (and on ``celery.task``,
whose records Celery does not propagate to the root). It routes a record to the job
running in the record's thread (``current_runtime()``, a thread-local), so the jobs of a
thread pool keep their lines apart and records of threads that run no job cost one
thread-local read. It never raises into the task: an error is swallowed and counted.
Celery's own outcome line (``celery.app.trace``) is left out: the job record holds it.

Records below a logger's level are never created, so :func:`install_capture` opens the
root and ``celery.task`` loggers down to ``REGIQ_JOB_LOG_LEVEL`` and raises their other
handlers to the level the logger had: what the worker prints is unchanged.
"""

from __future__ import annotations

import logging
import traceback

from regiq_tasks.tracking.logbuffer import MAX_MESSAGE_CHARS, Line
from regiq_tasks.tracking.runtime import current_runtime

TASK_LOGGER = "celery.task"  # Celery's task loggers' parent; it does not propagate to the root
# Celery's own outcome line ("Task ... succeeded in 0.03s: <result>"): the job record says it
OUTCOME_LOGGER = "celery.app.trace"
_SEEN = "_regiq_job_log"  # record attribute: kept already (reached through two loggers)


def message_of(record: logging.LogRecord) -> str:
    """The record's message with its exception and stack, cut to ``MAX_MESSAGE_CHARS``."""
    message = record.getMessage()
    if record.exc_info:
        message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
    if record.stack_info:
        message += "\n" + record.stack_info
    return message if len(message) <= MAX_MESSAGE_CHARS else message[:MAX_MESSAGE_CHARS - 1] + "…"


class JobLogHandler(logging.Handler):
    """Keeps the records of the job running in the record's thread with that job."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.errors = 0  # records that could not be kept (the task went on regardless)

    def handle(self, record: logging.LogRecord) -> bool:
        """Keep the record if a job runs in this thread (no handler lock: per thread)."""
        rt = current_runtime()
        if rt is None or rt.logs is None or getattr(record, _SEEN, False) \
                or record.name == OUTCOME_LOGGER:
            return False
        try:
            setattr(record, _SEEN, True)
            line: Line = (record.created, record.levelname, record.name, message_of(record))
            rt.logs.add(rt.job_id, line)
        except Exception:  # a log line must never fail the task
            self.errors += 1
            return False
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)


def _open_level(logger: logging.Logger, level: int) -> None:
    """Let ``logger`` create records from ``level`` without changing what its other
    handlers print."""
    if logger.level == logging.NOTSET or logger.level <= level:
        return
    for handler in logger.handlers:
        if handler.level < logger.level:
            handler.setLevel(logger.level)
    logger.setLevel(level)


def install_capture(level: int) -> JobLogHandler:
    """Attach a job log handler at ``level`` to this process's root and task loggers."""
    handler = JobLogHandler(level)
    for logger in (logging.getLogger(), logging.getLogger(TASK_LOGGER)):
        _open_level(logger, level)
        logger.addHandler(handler)
    return handler
