"""Migrations: the newest revision is known without Alembic, and a server whose database is
at it starts without loading Alembic or Redis's client (issue 15: idle memory)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from coview.storage.migrate import head_revision

SCRIPT = """
import asyncio, sys
from pathlib import Path
from coview.storage.database import Database
from coview.storage.key_file import load_keyring

async def main():
    keys = load_keyring(secret_key="k" * 32, old_secret_key=None, data_dir=Path(sys.argv[1]))
    database = Database("sqlite+aiosqlite:///" + sys.argv[1] + "/coview.db", keys=keys)
    await database.migrate()
    await database.close()

asyncio.run(main())
import coview.server.app  # everything a single process serves with
print(",".join(sorted(m for m in ("alembic", "mako", "redis") if m in sys.modules)))
"""


def loaded_after_migrating(data: Path) -> str:
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(data)], capture_output=True,
                         text=True, check=True)
    return run.stdout.strip()


def test_the_head_revision_is_alembics() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", "coview.storage:migrations")
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()


def test_a_database_at_the_head_needs_no_alembic(tmp_path: Path) -> None:
    assert loaded_after_migrating(tmp_path) == "alembic,mako"  # a new database: migrated
    assert loaded_after_migrating(tmp_path) == ""  # at the head: neither, nor Redis
