"""The health of the whole tracking path: ``get_health`` (``GET /status/system/health``,
``regiq health``). See :mod:`regiq_tasks.health.report` and
:mod:`regiq_tasks.health.components`."""

from regiq_tasks.health.report import get_health

__all__ = ["get_health"]
