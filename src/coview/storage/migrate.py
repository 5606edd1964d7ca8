"""Apply the schema migrations (Alembic) on a live connection."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", "coview.storage:migrations")
    config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection) -> tuple[str | None, str]:
    """Upgrade the schema to the newest revision; return (revision before, revision after)."""
    before = MigrationContext.configure(connection).get_current_revision()
    config = _config(connection)
    command.upgrade(config, "head")
    head = ScriptDirectory.from_config(config).get_current_head()
    return before, str(head)
