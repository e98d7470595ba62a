"""Celery signal receivers that turn task and worker lifecycle into live-store writes.

Nothing happens at import: :func:`connect` wires the receivers (once per process,
with a ``dispatch_uid``) and registers the app whose tracked tasks they serve;
:func:`disconnect` forgets the app again.
"""

from regiq_tasks.signals.handlers import connect, disconnect

__all__ = ["connect", "disconnect"]
