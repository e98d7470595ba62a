"""``install(app)``: plug regiq-tasks into an application's own Celery app."""

from __future__ import annotations

from typing import Any

from .alerts.tasks import register_alert_tasks
from .config import Settings
from .tracker import reset_tracker


def install(app: Any, **settings: Any) -> Any:
    """Track ``app``'s ``TrackedTask`` tasks; returns the app.

    Connects the signal receivers (publish, lifecycle, worker start/stop: the archiver
    and the lost-job reaper then run inside every worker of this app) and registers
    the alert tasks, routed to the alert queue (``alert_queue``). Keyword
    arguments are regiq settings without the ``regiq_`` prefix (``key_prefix="x:"``)
    and take precedence over the app's config and the environment. The user's queues
    and routes are left alone (only the alert tasks' own route is added).
    """
    from regiq_tasks.signals import connect

    for name, value in settings.items():
        if name not in Settings.__dataclass_fields__ or name == "extra":
            raise ValueError(f"install: unknown regiq setting {name!r}")
        app.conf[f"regiq_{name}"] = value
    Settings.from_app(app)  # bad settings fail here, not at the first task
    register_alert_tasks(app)  # the alert tasks, routed to the alert queue
    if settings:
        reset_tracker(app)
    connect(app)
    return app
