"""Create the alerts table: deduplication by a partial unique index on open fingerprints.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_ONLY = "status = 'open'"  # at most one open alert per fingerprint
LISTING_INDEXES = {"ix_alerts_status_id": ["status", "id"],
                   "ix_alerts_severity_id": ["severity", "id"],
                   "ix_alerts_rule_id": ["rule", "id"],
                   "ix_alerts_last_seen": ["last_seen"]}


def upgrade() -> None:
    """Create alerts, its partial unique index and its listing indexes."""
    op.create_table(
        "alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("fingerprint", sa.String(255), nullable=False),
        sa.Column("subject", sa.String(255), nullable=True),
        sa.Column("title", sa.String(512), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(255), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index("ix_alerts_fingerprint_open", "alerts", ["fingerprint"], unique=True,
                    sqlite_where=sa.text(OPEN_ONLY), postgresql_where=sa.text(OPEN_ONLY))
    for name, columns in LISTING_INDEXES.items():
        op.create_index(name, "alerts", columns)


def downgrade() -> None:
    """Drop alerts and its indexes."""
    for name in LISTING_INDEXES:
        op.drop_index(name, table_name="alerts")
    op.drop_index("ix_alerts_fingerprint_open", table_name="alerts")
    op.drop_table("alerts")
