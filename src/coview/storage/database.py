"""The database: every record Coview keeps, over SQLAlchemy's async engine."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from coview.domain.agents import Agent, Privilege, Role, check_an_admin_remains, revokes_tokens
from coview.domain.audit import AuditAction, AuditEntry
from coview.domain.groups import Group, GroupCredentials, hash_api_key, new_credentials
from coview.domain.records import PRODUCTION, STAGING, SessionRecord, Stage
from coview.domain.settings import GroupSettings, parse_settings
from coview.errors import Conflict, InvalidInput, NotFound, Unavailable
from coview.ids import AgentId, GroupId
from coview.storage import migrate
from coview.storage.rows import (
    agent_row,
    aware,
    dump_privileges,
    group_secret_place,
    is_connection_error,
    server_secret_place,
    session_record,
    sqlite_pragmas,
    utcnow,
)
from coview.storage.schema import (
    agents,
    audit_log,
    group_settings,
    groups,
    server_secrets,
    sessions,
)
from coview.storage.sealing import CannotUnseal, Keyring

log = logging.getLogger("coview.storage")



class Database:
    """Every record of Coview: groups, agents, settings, audit log.

    Secrets (groups' visitor-token secrets, the server's secrets) are stored sealed with
    ``keys`` (coview.storage.sealing) and handed out in plaintext.
    """

    def __init__(self, url: str, *, keys: Keyring) -> None:
        self.url = url
        self.keys = keys
        self.dialect = sa.make_url(url).get_backend_name()
        options: dict[str, Any] = {"pool_pre_ping": True}
        if self.dialect == "postgresql":
            options.update(pool_size=10, max_overflow=10, pool_timeout=10,
                           connect_args={"timeout": 5})
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", sqlite_pragmas)

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def _begin(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self.engine.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except (OperationalError, OSError, DBAPIError) as exc:
            if isinstance(exc, DBAPIError) and not is_connection_error(exc):
                raise
            log.warning("database unavailable: %s", type(exc).__name__)
            raise Unavailable("the database is unavailable; try again shortly",
                              part="database") from exc

    async def behind(self) -> bool:
        """Whether the schema is older than this version's (or there is none yet)."""
        async with self._begin() as conn:
            current = await conn.run_sync(migrate.current_revision)
        return current != migrate.head_revision()

    async def migrate(self) -> tuple[str | None, str]:
        """Create or upgrade the schema, then seal the secrets stored in plaintext or with an
        older key; return (revision before, revision after).

        Raises InvalidInput (in one sentence) if a stored secret does not open with the keys.
        """
        async with self._begin() as conn:
            revisions: tuple[str | None, str] = await conn.run_sync(migrate.upgrade)
        try:
            async with self._begin() as conn:
                sealed = await migrate.seal_stored_secrets(conn, self.keys)
        except CannotUnseal as exc:
            hint = ("start with the secret key it was sealed with as COVIEW_SECRET_KEY, or "
                    "name that key in COVIEW_SECRET_KEY_OLD to move to a new one"
                    if exc.reason == "unknown_key" else "restore it from a backup")
            raise InvalidInput(f"{exc.message}: {hint}", code=exc.code) from None
        if sealed:
            log.info("secrets sealed", extra={"fields": {"count": sealed,
                                                         "key": self.keys.current.key_id}})
        return revisions

    async def ping(self) -> None:
        """Return if the database answers, else raise Unavailable."""
        async with self._begin() as conn:
            await conn.execute(sa.text("SELECT 1"))

    # -- server secrets -------------------------------------------------------------------

    async def server_secret(self, name: str, make: str) -> str:
        """Return the secret called ``name``, storing ``make`` first if there is none yet."""
        async with self._begin() as conn:
            row = (await conn.execute(
                sa.select(server_secrets.c.value).where(server_secrets.c.name == name)
            )).first()
            if row is not None:
                return self.keys.unseal(str(row.value), place=server_secret_place(name))
        try:
            async with self._begin() as conn:
                await conn.execute(server_secrets.insert().values(
                    name=name, value=self.keys.seal(make, place=server_secret_place(name))))
            return make
        except IntegrityError:  # another process stored one first: use theirs
            return await self.server_secret(name, make)

    # -- groups ---------------------------------------------------------------------------

    async def create_group(self, group_id: GroupId, name: str) -> GroupCredentials:
        """Create a group with default settings; return its secrets (shown once)."""
        credentials = new_credentials(group_id)
        now = utcnow()
        document = GroupSettings().model_dump_json()
        try:
            async with self._begin() as conn:
                await conn.execute(groups.insert().values(
                    group_id=group_id, name=name,
                    api_key_hash=hash_api_key(credentials.api_key),
                    visitor_token_secret=self.keys.seal(
                        credentials.visitor_token_secret, place=group_secret_place(group_id)),
                    created_at=now,
                ))
                for stage in (STAGING, PRODUCTION):
                    await conn.execute(group_settings.insert().values(
                        group_id=group_id, stage=stage, document=document,
                        updated_at=now, updated_by="coview",
                    ))
        except IntegrityError:
            raise Conflict(f"group {group_id} already exists", code="group_exists") from None
        return credentials

    async def get_group(self, group_id: GroupId) -> Group | None:
        async with self._begin() as conn:
            row = (await conn.execute(
                sa.select(groups).where(groups.c.group_id == group_id)
            )).first()
        if row is None:
            return None
        secret = self.keys.unseal(row.visitor_token_secret,
                                  place=group_secret_place(row.group_id))
        return Group(GroupId(row.group_id), row.name, row.api_key_hash, secret,
                     aware(row.created_at))

    async def require_group(self, group_id: GroupId) -> Group:
        group = await self.get_group(group_id)
        if group is None:
            raise NotFound(f"there is no group {group_id}", code="group_not_found")
        return group

    # -- agents ---------------------------------------------------------------------------

    async def create_agent(
        self, group_id: GroupId, username: str, *, password_hash: str, display_name: str,
        title: str, role: Role, privileges: frozenset[Privilege], agent_role: str = "",
    ) -> Agent:
        await self.require_group(group_id)
        try:
            async with self._begin() as conn:
                result = await conn.execute(agents.insert().values(
                    group_id=group_id, username=username, display_name=display_name,
                    title=title, agent_role=agent_role, role=role.value,
                    privileges=dump_privileges(privileges), password_hash=password_hash,
                    disabled=False, created_at=utcnow(), token_generation=0,
                ).returning(agents.c.agent_id))
                agent_id = AgentId(result.scalar_one())
        except IntegrityError:
            raise Conflict(f"agent {username!r} already exists in group {group_id}",
                           code="agent_exists") from None
        agent = await self.get_agent(agent_id)
        assert agent is not None
        return agent

    async def get_agent(self, agent_id: AgentId) -> Agent | None:
        async with self._begin() as conn:
            row = (await conn.execute(
                sa.select(agents).where(agents.c.agent_id == agent_id)
            )).first()
        return agent_row(row) if row is not None else None

    async def find_agent(self, group_id: GroupId, username: str) -> tuple[Agent, str] | None:
        """Return an agent and its password hash by group and username."""
        async with self._begin() as conn:
            row = (await conn.execute(sa.select(agents).where(
                agents.c.group_id == group_id, agents.c.username == username
            ))).first()
        return (agent_row(row), str(row.password_hash)) if row is not None else None

    async def list_agents(self, group_id: GroupId) -> list[Agent]:
        async with self._begin() as conn:
            rows = (await conn.execute(sa.select(agents).where(
                agents.c.group_id == group_id
            ).order_by(agents.c.username))).all()
        return [agent_row(row) for row in rows]

    async def update_agent(self, agent_id: AgentId, *, revoke_tokens: bool = False,
                           **changes: Any) -> Agent:
        """Change an agent's stored fields (``privileges`` a frozenset, ``role`` a Role,
        ``password_hash`` a new hash) in one transaction.

        Refuses (LastAdmin) a change that leaves the group without an enabled admin; ends the
        agent's sign-ins (a new token generation) when the change calls for it, or when
        ``revoke_tokens`` (signing out).
        """
        async with self._begin() as conn:
            group_id = (await conn.execute(sa.select(agents.c.group_id).where(
                agents.c.agent_id == agent_id))).scalar_one_or_none()
        if group_id is None:
            raise NotFound("there is no such agent", code="agent_not_found")
        may_drop_an_admin = "role" in changes or "disabled" in changes
        async with self._begin() as conn:
            if may_drop_an_admin:
                # A write first: it serialises such changes within a group (a row lock in
                # PostgreSQL, the write lock in SQLite), so that two admins demoting each other
                # at once cannot both succeed.
                await conn.execute(groups.update().where(groups.c.group_id == group_id)
                                   .values(name=groups.c.name))
            rows = (await conn.execute(sa.select(agents).where(
                agents.c.group_id == group_id,
                sa.or_(agents.c.agent_id == agent_id,
                       sa.and_(agents.c.role == Role.ADMIN.value, sa.not_(agents.c.disabled))),
            ))).all()
            before = next((agent_row(r) for r in rows if r.agent_id == agent_id), None)
            if before is None:
                raise NotFound("there is no such agent", code="agent_not_found")
            fields = {k: v for k, v in changes.items() if k != "password_hash"}
            if "role" in fields:
                fields["role"] = Role(fields["role"])
            after = dataclasses.replace(before, **fields)
            others = sum(1 for r in rows if r.agent_id != agent_id and agent_row(r).is_active_admin)
            check_an_admin_remains(before, after, other_active_admins=others)
            values = dict(changes)
            if "privileges" in values:
                values["privileges"] = dump_privileges(values["privileges"])
            if "role" in values:
                values["role"] = after.role.value
            if revoke_tokens or revokes_tokens(before, after,
                                               password_changed="password_hash" in changes):
                values["token_generation"] = agents.c.token_generation + 1
            if values:
                await conn.execute(
                    agents.update().where(agents.c.agent_id == agent_id).values(**values)
                )
        agent = await self.get_agent(agent_id)
        if agent is None:
            raise NotFound("there is no such agent", code="agent_not_found")
        return agent

    # -- settings -------------------------------------------------------------------------

    async def get_settings(self, group_id: GroupId, stage: Stage) -> tuple[GroupSettings, datetime,
                                                                           str]:
        """Return a stage's settings, when they last changed, and by whom."""
        async with self._begin() as conn:
            row = (await conn.execute(sa.select(group_settings).where(
                group_settings.c.group_id == group_id, group_settings.c.stage == stage
            ))).first()
        if row is None:
            raise NotFound(f"there is no group {group_id}", code="group_not_found")
        return parse_settings(json.loads(row.document)), aware(row.updated_at), row.updated_by

    async def put_staging(self, group_id: GroupId, settings: GroupSettings, *, by: str) -> None:
        async with self._begin() as conn:
            result = await conn.execute(group_settings.update().where(
                group_settings.c.group_id == group_id, group_settings.c.stage == STAGING
            ).values(document=settings.model_dump_json(), updated_at=utcnow(), updated_by=by))
        if result.rowcount == 0:
            raise NotFound(f"there is no group {group_id}", code="group_not_found")

    async def publish(self, group_id: GroupId, *, by: str) -> tuple[GroupSettings, list[str]]:
        """Copy staging to production in one transaction; return it and the changed fields."""
        async with self._begin() as conn:
            rows = {row.stage: row.document for row in (await conn.execute(
                sa.select(group_settings.c.stage, group_settings.c.document).where(
                    group_settings.c.group_id == group_id)
            )).all()}
            if STAGING not in rows:
                raise NotFound(f"there is no group {group_id}", code="group_not_found")
            staging, production = json.loads(rows[STAGING]), json.loads(rows[PRODUCTION])
            changed = sorted(k for k in staging.keys() | production.keys()
                             if staging.get(k) != production.get(k))
            await conn.execute(group_settings.update().where(
                group_settings.c.group_id == group_id, group_settings.c.stage == PRODUCTION
            ).values(document=rows[STAGING], updated_at=utcnow(), updated_by=by))
        return parse_settings(staging), changed

    # -- sessions -------------------------------------------------------------------------

    async def start_session_record(self, *, session_id: str, group_id: GroupId, key: str,
                                   session_type: str, parent_call_id: int | None,
                                   report_errors: bool) -> int:
        """Record a session's start; return its call ID."""
        async with self._begin() as conn:
            result = await conn.execute(sessions.insert().values(
                session_id=session_id, group_id=group_id, session_key=key,
                session_type=session_type, parent_call_id=parent_call_id or None,
                started_at=utcnow(), report_errors=report_errors, errors="[]",
            ).returning(sessions.c.call_id))
            return int(result.scalar_one())

    async def end_session_record(self, call_id: int, *, reason: str, peak_guests: int,
                                 errors: list[str]) -> None:
        async with self._begin() as conn:
            await conn.execute(sessions.update().where(sessions.c.call_id == call_id).values(
                ended_at=utcnow(), end_reason=reason, peak_guests=peak_guests,
                errors=json.dumps(errors[:100]),
            ))

    async def get_session_record(self, group_id: GroupId, call_id: int) -> SessionRecord | None:
        async with self._begin() as conn:
            row = (await conn.execute(sa.select(sessions).where(
                sessions.c.group_id == group_id, sessions.c.call_id == call_id))).first()
        return session_record(row) if row is not None else None

    async def list_session_records(self, group_id: GroupId, *, limit: int,
                                   before: int | None = None) -> list[SessionRecord]:
        query = sa.select(sessions).where(sessions.c.group_id == group_id)
        if before is not None:
            query = query.where(sessions.c.call_id < before)
        query = query.order_by(sessions.c.call_id.desc()).limit(limit)
        async with self._begin() as conn:
            rows = (await conn.execute(query)).all()
        return [session_record(row) for row in rows]

    # -- audit ----------------------------------------------------------------------------

    async def audit(self, entry: AuditEntry) -> None:
        async with self._begin() as conn:
            await conn.execute(audit_log.insert().values(
                group_id=entry.group_id, at=utcnow(), action=entry.action.value,
                actor=entry.actor[:100], address=entry.address[:64],
                details=json.dumps(entry.details, sort_keys=True),
            ))

    async def read_audit(self, group_id: GroupId, *, limit: int, before: int | None = None,
                         actions: Sequence[AuditAction] = ()) -> list[AuditEntry]:
        """Newest first, at most ``limit`` entries with ids below ``before``."""
        query = sa.select(audit_log).where(audit_log.c.group_id == group_id)
        if before is not None:
            query = query.where(audit_log.c.entry_id < before)
        if actions:
            query = query.where(audit_log.c.action.in_([a.value for a in actions]))
        query = query.order_by(audit_log.c.entry_id.desc()).limit(limit)
        async with self._begin() as conn:
            rows = (await conn.execute(query)).all()
        return [AuditEntry(GroupId(r.group_id), AuditAction(r.action), r.actor, r.address,
                           json.loads(r.details), r.entry_id, aware(r.at)) for r in rows]


