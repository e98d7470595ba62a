"""The SQL job history: models, engines and migrations, and the archive repository."""

from __future__ import annotations

from regiq_tasks.history.db import (
    MIGRATIONS_DIR,
    VERSION_TABLE,
    alembic_config,
    current_revision,
    database_url,
    downgrade,
    make_engine,
    upgrade,
)
from regiq_tasks.history.models import JOB_HISTORY, Base, JobHistory
from regiq_tasks.history.repository import get_job, query_history, row_from_record, upsert_jobs
from regiq_tasks.history.tokens import API_TOKENS, ApiToken, Principal, Role

__all__ = [
    "API_TOKENS",
    "JOB_HISTORY",
    "MIGRATIONS_DIR",
    "VERSION_TABLE",
    "ApiToken",
    "Base",
    "JobHistory",
    "Principal",
    "Role",
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
