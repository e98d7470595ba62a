"""Celery signal receivers that turn task and worker lifecycle into live-store writes.

Nothing happens at import: :func:`connect` wires the receivers (once per process,
with a ``dispatch_uid``) and registers the app whose tracked tasks they serve.
"""

from .handlers import connect, connected_apps

__all__ = ["connect", "connected_apps"]
