"""Root conftest: real Redis, real SQL databases, real Celery workers.

Celery's pytest plugin is enabled in pyproject (``-p celery.contrib.pytest``).
"""

pytest_plugins = ["tests.fixtures.databases", "tests.fixtures.services", "tests.fixtures.flower"]
