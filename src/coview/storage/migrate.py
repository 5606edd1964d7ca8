"""Apply the schema migrations (Alembic) on a live connection, and seal the secrets stored
in plaintext or with an older key.

Alembic (and its template engine) are loaded only when the schema is behind; ``coview serve``
then upgrades it in a process of its own (``coview.cli.migrate_child``), so that the serving
process never loads them (issue 15: idle memory).
"""

from __future__ import annotations

from importlib.resources import files

import sqlalchemy as sa
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from coview.storage.rows import group_secret_place, server_secret_place
from coview.storage.schema import groups, server_secrets
from coview.storage.sealing import Keyring


def head_revision() -> str:
    """The newest revision: each migration is ``versions/NNNN_what.py`` with revision NNNN
    (``tests/storage`` holds Alembic to this)."""
    names = [entry.name for entry in files("coview.storage.migrations.versions").iterdir()
             if entry.name[:4].isdigit() and entry.name.endswith(".py")]
    return max(names)[:4]


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None: no schema yet)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    value = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if value is None else str(value)


def upgrade(connection: Connection) -> tuple[str | None, str]:
    """Upgrade the schema to the newest revision; return (revision before, revision after)."""
    before = current_revision(connection)
    if before == head_revision():
        return before, before
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", "coview.storage:migrations")
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    head = ScriptDirectory.from_config(config).get_current_head()
    return before, str(head)


async def seal_stored_secrets(conn: AsyncConnection, keys: Keyring) -> int:
    """Seal with the current key what is stored in plaintext (written before secrets were
    sealed) or with an older key; return how many values changed. Raise CannotUnseal, having
    changed nothing, if one does not open with ``keys``."""
    places = (
        (groups, groups.c.group_id, groups.c.visitor_token_secret, group_secret_place),
        (server_secrets, server_secrets.c.name, server_secrets.c.value, server_secret_place),
    )
    changed = 0
    # Every value opens before any is sealed: with a wrong key nothing changes (and no key
    # file is made).
    opened = []
    for table, key, column, place in places:
        for row_key, stored in (await conn.execute(sa.select(key, column))).all():
            where = place(row_key)
            opened.append((table, key, column, row_key, stored, where,
                           keys.unseal(stored, place=where)))
    for table, key, column, row_key, stored, where, plaintext in opened:
        if keys.is_current(stored):
            continue
        sealed = keys.seal(plaintext, place=where)
        # Only if unchanged: another process starting at once may have sealed it.
        result = await conn.execute(table.update().where(
            key == row_key, column == stored).values({column.name: sealed}))
        changed += result.rowcount
    return changed
