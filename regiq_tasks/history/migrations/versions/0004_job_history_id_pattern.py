"""Index job ids for prefix search on PostgreSQL (``varchar_pattern_ops``).

SQLite needs nothing: its primary key compares bytes, so an id prefix is a range on it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_job_history_id_pattern"


def upgrade() -> None:
    """Create the pattern index on PostgreSQL."""
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(INDEX, "job_history", ["id"],
                        postgresql_ops={"id": "varchar_pattern_ops"})


def downgrade() -> None:
    """Drop the pattern index on PostgreSQL."""
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(INDEX, table_name="job_history")
