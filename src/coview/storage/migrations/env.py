"""Alembic environment: runs on the connection that ``coview.storage.migrate`` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from coview.storage.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # Several processes may start at once: only one migrates, the others wait for it.
        connection.execute(text("SELECT pg_advisory_xact_lock(7700870001)"))
    context.run_migrations()
