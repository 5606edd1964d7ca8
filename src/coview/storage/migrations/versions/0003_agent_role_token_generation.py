"""Agents' role titles, and the generation of their tokens (revocation).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("agents", sa.Column("agent_role", sa.String(100), nullable=False,
                                      server_default=""))
    op.add_column("agents", sa.Column("token_generation", sa.Integer, nullable=False,
                                      server_default="0"))
