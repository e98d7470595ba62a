"""The SQL job history: models, engines and migrations, and the archive repository."""

from __future__ import annotations

from .db import (
                 MIGRATIONS_DIR,
                 VERSION_TABLE,
                 alembic_config,
                 current_revision,
                 database_url,
                 downgrade,
                 make_engine,
                 upgrade,
)
from .models import JOB_HISTORY, Base, JobHistory
from .repository import get_job, query_history, row_from_record, upsert_jobs

__all__ = [
    "JOB_HISTORY",
    "MIGRATIONS_DIR",
    "VERSION_TABLE",
    "Base",
    "JobHistory",
    "alembic_config",
    "current_revision",
    "database_url",
    "downgrade",
    "get_job",
    "make_engine",
    "query_history",
    "row_from_record",
    "upgrade",
    "upsert_jobs",
]
