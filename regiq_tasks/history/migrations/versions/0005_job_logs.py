"""Create job_logs: the kept log lines of archived jobs, deleted with their job.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create job_logs, keyed by (job_id, seq), its job_id referring to job_history."""
    op.create_table(
        "job_logs",
        sa.Column("job_id", sa.String(155), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("level", sa.String(32), nullable=False),
        sa.Column("logger", sa.String(255), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["job_history.id"], ondelete="CASCADE",
                                name="fk_job_logs_job_id_job_history"),
        sa.PrimaryKeyConstraint("job_id", "seq", name="pk_job_logs"),
    )


def downgrade() -> None:
    """Drop job_logs."""
    op.drop_table("job_logs")
