"""Create the job_history table and its listing indexes.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Leading columns of each listing index; every index ends with (created_at, id).
LISTING_INDEXES: tuple[tuple[str, ...], ...] = (
    (), ("status",), ("type",), ("worker",), ("pipeline_id",), ("name",), ("type", "status"),
)


def _index_name(columns: tuple[str, ...]) -> str:
    return "ix_job_history_" + "_".join(columns)


def upgrade() -> None:
    """Create job_history with its primary key and listing indexes."""
    op.create_table(
        "job_history",
        sa.Column("id", sa.String(155), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("type", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("queue_wait_s", sa.Float(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("worker", sa.String(255), nullable=True),
        sa.Column("queue", sa.String(255), nullable=True),
        sa.Column("retries", sa.Integer(), nullable=True),
        sa.Column("pipeline_id", sa.String(155), nullable=True),
        sa.Column("root_id", sa.String(155), nullable=True),
        sa.Column("parent_id", sa.String(155), nullable=True),
        sa.Column("group_id", sa.String(155), nullable=True),
        sa.Column("error_type", sa.String(255), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("cpu_time_s", sa.Float(), nullable=True),
        sa.Column("cpu_percent", sa.Float(), nullable=True),
        sa.Column("peak_rss_bytes", sa.BigInteger(), nullable=True),
        sa.Column("progress_percent", sa.Float(), nullable=True),
        sa.Column("args_preview", sa.String(512), nullable=True),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_job_history"),
    )
    for leading in LISTING_INDEXES:
        columns = (*leading, "created_at", "id")
        op.create_index(_index_name(columns), "job_history", list(columns))


def downgrade() -> None:
    """Drop job_history and its indexes."""
    for leading in LISTING_INDEXES:
        op.drop_index(_index_name((*leading, "created_at", "id")), table_name="job_history")
    op.drop_table("job_history")
