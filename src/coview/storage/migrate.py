"""Apply the schema migrations (Alembic) on a live connection.

Alembic (and its template engine) are loaded only when the schema is behind: a server whose
database is at the newest revision starts without them (issue 15: idle memory).
"""

from __future__ import annotations

from importlib.resources import files

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection


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
