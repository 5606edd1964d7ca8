"""Session records.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("call_id", BigId, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(64), nullable=False, unique=True),
        sa.Column("group_id", sa.BigInteger, nullable=False),
        sa.Column("session_key", sa.String(50), nullable=False),
        sa.Column("session_type", sa.String(32), nullable=False),
        sa.Column("parent_call_id", sa.BigInteger, nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(40), nullable=True),
        sa.Column("peak_guests", sa.Integer, nullable=False, server_default="0"),
        sa.Column("report_errors", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("errors", sa.Text, nullable=False, server_default="[]"),
    )
    op.create_index("ix_sessions_group_call", "sessions", ["group_id", "call_id"])
