"""The tables, as SQLAlchemy Core metadata (migrations create them; this describes them)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# BIGINT ids, but SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

server_secrets = sa.Table(
    "server_secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),  # sealed (coview.storage.sealing)
)

groups = sa.Table(
    "groups",
    metadata,
    sa.Column("group_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("api_key_hash", sa.String(64), nullable=False),
    sa.Column("visitor_token_secret", sa.Text, nullable=False),  # sealed
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("agent_id", BigId, primary_key=True, autoincrement=True),
    sa.Column("group_id", sa.BigInteger, sa.ForeignKey("groups.group_id"), nullable=False),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("display_name", sa.String(100), nullable=False),
    sa.Column("title", sa.String(100), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("privileges", sa.Text, nullable=False),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("agent_role", sa.String(100), nullable=False, server_default=""),
    sa.Column("token_generation", sa.Integer, nullable=False, server_default="0"),
    sa.UniqueConstraint("group_id", "username", name="uq_agents_group_username"),
)

group_settings = sa.Table(
    "group_settings",
    metadata,
    sa.Column("group_id", sa.BigInteger, sa.ForeignKey("groups.group_id"), primary_key=True),
    sa.Column("stage", sa.String(16), primary_key=True),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_by", sa.String(100), nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("entry_id", BigId, primary_key=True, autoincrement=True),
    sa.Column("group_id", sa.BigInteger, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("address", sa.String(64), nullable=False),
    sa.Column("details", sa.Text, nullable=False),
    sa.Index("ix_audit_group_entry", "group_id", "entry_id"),
)

sessions = sa.Table(
    "sessions",
    metadata,
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
    sa.Index("ix_sessions_group_call", "group_id", "call_id"),
)
