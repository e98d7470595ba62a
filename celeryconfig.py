"""The repository's Celery configuration module: ``celery --config celeryconfig`` here.

The bundled app's real configuration ships inside the package as
``regiq_tasks.celeryconfig`` (an installed regiq-tasks adds no top-level name but
``regiq_tasks``, so it never shadows, nor is shadowed by, a user's own ``celeryconfig``).
"""

from regiq_tasks.celeryconfig import *  # noqa: F403
