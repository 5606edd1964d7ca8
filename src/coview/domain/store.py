"""What the server keeps on record, as the domain names it: the interface of storage.

The server reads and writes records only through a :class:`Store`; it never sees a table or a
query. ``coview.storage.database.Database`` is the implementation (SQLite or PostgreSQL, over
SQLAlchemy Core); another (a different database, or one in memory for a test) needs only
these methods. Every method may raise :class:`~coview.errors.Unavailable` when the records are
out of reach.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from coview.domain.agents import Agent, Privilege, Role
from coview.domain.audit import AuditAction, AuditEntry
from coview.domain.groups import Group, GroupCredentials
from coview.domain.records import SessionRecord, Stage
from coview.domain.settings import GroupSettings
from coview.ids import AgentId, GroupId


class Store(Protocol):
    """The records: groups, agents, settings in two stages, sessions and the audit log."""

    async def ping(self) -> None:
        """Return if the records answer (else raise Unavailable)."""

    async def close(self) -> None: ...

    async def server_secret(self, name: str, make: str) -> str:
        """The secret called ``name``, storing ``make`` first if there is none yet (every
        process of a server gets the same one)."""

    # -- groups and agents ------------------------------------------------------------------

    async def create_group(self, group_id: GroupId, name: str) -> GroupCredentials:
        """A group with default settings (Conflict if it exists); its secrets, shown once."""

    async def get_group(self, group_id: GroupId) -> Group | None: ...

    async def require_group(self, group_id: GroupId) -> Group:
        """The group (NotFound if there is none)."""

    async def create_agent(self, group_id: GroupId, username: str, *, password_hash: str,
                           display_name: str, title: str, role: Role,
                           privileges: frozenset[Privilege], agent_role: str = "") -> Agent:
        """A new agent (Conflict if the username is taken in the group)."""

    async def get_agent(self, agent_id: AgentId) -> Agent | None: ...

    async def find_agent(self, group_id: GroupId, username: str) -> tuple[Agent, str] | None:
        """An agent and its password hash, by group and username."""

    async def list_agents(self, group_id: GroupId) -> list[Agent]: ...

    async def update_agent(self, agent_id: AgentId, *, revoke_tokens: bool = False,
                           **changes: Any) -> Agent:
        """Change an agent's fields in one step; refuse (LastAdmin) one that leaves the group
        without an enabled admin; end its sign-ins when the change calls for it."""

    # -- settings ---------------------------------------------------------------------------

    async def get_settings(self, group_id: GroupId,
                           stage: Stage) -> tuple[GroupSettings, datetime, str]:
        """A stage's settings, when they last changed, and by whom."""

    async def put_staging(self, group_id: GroupId, settings: GroupSettings, *, by: str) -> None:
        ...

    async def publish(self, group_id: GroupId, *, by: str) -> tuple[GroupSettings, list[str]]:
        """Staging copied to production in one step; it, and the fields that changed."""

    # -- sessions and the audit log ---------------------------------------------------------

    async def start_session_record(self, *, session_id: str, group_id: GroupId, key: str,
                                   session_type: str, parent_call_id: int | None,
                                   report_errors: bool) -> int:
        """A session's start; its call ID."""

    async def end_session_record(self, call_id: int, *, reason: str, peak_guests: int,
                                 errors: list[str]) -> None: ...

    async def get_session_record(self, group_id: GroupId,
                                 call_id: int) -> SessionRecord | None: ...

    async def list_session_records(self, group_id: GroupId, *, limit: int,
                                   before: int | None = None) -> list[SessionRecord]:
        """Newest first."""

    async def audit(self, entry: AuditEntry) -> None: ...

    async def read_audit(self, group_id: GroupId, *, limit: int, before: int | None = None,
                         actions: Sequence[AuditAction] = ()) -> list[AuditEntry]:
        """Newest first, at most ``limit`` entries with ids below ``before``."""
