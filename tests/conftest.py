"""Root conftest: real Redis, real SQL databases, real Celery workers, a real browser.

Every fixture plugin of the suite is registered here, once; test modules import helpers
from ``tests.fixtures`` but never declare ``pytest_plugins`` themselves (see
``tests/fixtures/__init__.py`` for what each module provides).

Celery's pytest plugin is enabled in pyproject (``-p celery.contrib.pytest``).
"""

import pytest

# Before anything under tests.fixtures is imported: pytest rewrites the asserts of every
# module there, plugin or helper, whichever imports it first (a test module or a plugin).
pytest.register_assert_rewrite("tests.fixtures")

pytest_plugins = [
    "tests.fixtures.databases",
    "tests.fixtures.services",
    "tests.fixtures.flower",
    "tests.fixtures.live",
    "tests.fixtures.page",
    "tests.fixtures.axe",
    "tests.fixtures.prometheus",
]
