"""Room for sealed secrets: visitor-token secrets and server secrets become TEXT.

Sealing itself (coview.storage.sealing) runs at every start, after the migrations: it needs
the server's secret key, which migrations are not given.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite does not enforce VARCHAR lengths, and changing a column there means copying the
    # groups table, which other tables' foreign keys point at: PostgreSQL alone needs this.
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column("groups", "visitor_token_secret", type_=sa.Text,
                    existing_type=sa.String(128), existing_nullable=False)
    op.alter_column("server_secrets", "value", type_=sa.Text,
                    existing_type=sa.String(256), existing_nullable=False)
