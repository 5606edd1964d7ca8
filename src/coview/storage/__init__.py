"""Records: groups, agents, settings, audit log (and later sessions).

One SQLAlchemy implementation serves SQLite (the default, one file in the data directory) and
PostgreSQL (``postgresql+asyncpg://``). The schema is created and upgraded by Alembic migrations.
"""

from coview.storage.database import Database

__all__ = ["Database"]
