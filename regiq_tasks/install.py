"""``install(app)``: plug regiq-tasks into an application's own Celery app."""

from __future__ import annotations

from typing import Any

from celery.app.utils import find_app

from regiq_tasks.alerts import hooks as alerts_feature
from regiq_tasks.alerts.tasks import register_alert_tasks
from regiq_tasks.config import Settings
from regiq_tasks.errors import InvalidParameter
from regiq_tasks.history import retention as retention_feature
from regiq_tasks.hooks import hooks_of
from regiq_tasks.metrics import hooks as metrics_feature
from regiq_tasks.resources import hooks as resources_feature
from regiq_tasks.tracking.tracker import reset_tracker

# The features that hang on the tracking core's hooks, in the order they subscribe.
FEATURES = (("alerts", alerts_feature.register), ("metrics", metrics_feature.register),
            ("resources", resources_feature.register),
            ("retention", retention_feature.register))


def install(app: Any, **settings: Any) -> Any:
    """Track ``app``'s ``TrackedTask`` tasks; returns the app.

    Connects the signal receivers (publish, lifecycle, worker start/stop: the archiver
    and the lost-job reaper then run inside every worker of this app), subscribes the
    features (:data:`FEATURES`) to the app's hooks and registers the alert tasks,
    routed to the alert queue (``alert_queue``). Keyword
    arguments are regiq settings without the ``regiq_`` prefix (``key_prefix="x:"``)
    and take precedence over the app's config and the environment. The user's queues
    and routes are left alone (only the alert tasks' own route is added).
    """
    from regiq_tasks.signals import connect

    for name, value in settings.items():
        if name not in Settings.__dataclass_fields__:
            raise InvalidParameter(name, f"unknown regiq setting {name!r}")
        app.conf[f"regiq_{name}"] = value
    Settings.from_app(app)  # bad settings fail here, not at the first task
    register_alert_tasks(app)  # the alert tasks, routed to the alert queue
    hooks = hooks_of(app)
    for name, register in FEATURES:
        hooks.add_feature(name, register)
    if settings:
        reset_tracker(app)
    connect(app)
    return app


def load_app(spec: Any) -> Any:
    """The Celery app ``spec`` names: ``module:attribute`` (or a module holding one),
    imported as ``celery -A`` does, from the current directory first; an app object as
    it is; None for the bundled app. ImportError or AttributeError if there is none."""
    if spec is None:
        from regiq_tasks.celery import app

        return app
    return find_app(spec) if isinstance(spec, str) else spec
