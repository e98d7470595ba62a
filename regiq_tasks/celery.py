"""The bundled Celery app: ``celery -A regiq_tasks worker`` / ``celery -A regiq_tasks flower``.

Configured from ``regiq_tasks.celeryconfig`` (every value overridable by environment),
with regiq-tasks installed and the demo pipeline's tasks registered.
"""

from __future__ import annotations

from celery import Celery

from regiq_tasks.install import install

app = Celery("regiq_tasks", include=["regiq_tasks.demo.tasks"])
app.config_from_object("regiq_tasks.celeryconfig")
install(app)
