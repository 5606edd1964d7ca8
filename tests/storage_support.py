"""Test helpers for storage: a database brought to an older migration, as a release left it."""

from __future__ import annotations

from collections.abc import Callable

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection


def at_revision(revision: str, then: Callable[[Connection], None]) -> Callable[[Connection],
                                                                               None]:
    """For ``run_sync``: migrate the connection's database up to ``revision`` only, then call
    ``then`` (which writes rows as that release would have)."""
    def run(connection: Connection) -> None:
        config = Config()
        config.set_main_option("script_location", "coview.storage:migrations")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        then(connection)
    return run
