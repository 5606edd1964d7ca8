"""Rows read back as domain values, and the small conversions the database needs (UTC times,
privileges as JSON, which errors mean the connection is gone)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from coview.domain.agents import Agent, Privilege, Role
from coview.domain.records import SessionRecord
from coview.ids import AgentId, GroupId

__all__ = ["KNOWN_PRIVILEGES"]

KNOWN_PRIVILEGES = frozenset(p.value for p in Privilege)


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def describe_url(url: str) -> str:
    """The database URL without its password, for logs and messages."""
    return sa.make_url(url).render_as_string(hide_password=True)


def group_secret_place(group_id: int) -> str:
    return f"groups.visitor_token_secret:{group_id}"


def server_secret_place(name: str) -> str:
    return f"server_secrets.value:{name}"


def dump_privileges(privileges: frozenset[Privilege]) -> str:
    return json.dumps(sorted(p.value for p in privileges))


def session_record(row: sa.Row[Any]) -> SessionRecord:
    return SessionRecord(
        call_id=int(row.call_id), session_id=row.session_id, group_id=GroupId(row.group_id),
        key=row.session_key, session_type=row.session_type, parent_call_id=row.parent_call_id,
        started_at=aware(row.started_at),
        ended_at=aware(row.ended_at) if row.ended_at else None, end_reason=row.end_reason,
        peak_guests=int(row.peak_guests), errors=list(json.loads(row.errors)),
    )


def agent_row(row: sa.Row[Any]) -> Agent:
    return Agent(
        agent_id=AgentId(row.agent_id), group_id=GroupId(row.group_id), username=row.username,
        display_name=row.display_name, title=row.title, agent_role=row.agent_role,
        role=Role(row.role),
        privileges=frozenset(Privilege(p) for p in json.loads(row.privileges)
                             if p in KNOWN_PRIVILEGES),
        disabled=bool(row.disabled), created_at=aware(row.created_at),
        token_generation=int(row.token_generation),
    )


def is_connection_error(exc: DBAPIError) -> bool:
    return bool(exc.connection_invalidated) or isinstance(exc.orig, OSError) or (
        "connection" in type(exc.orig).__name__.lower()
    )


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
