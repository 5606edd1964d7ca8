"""The schema migration a starting server runs in a process of its own: ``coview migrate``,
logging as the server does (JSON lines on stderr), so that Alembic and its templates never
load into the serving process. ``coview serve`` runs it with the database named in the
environment (never on the command line, where other users could read a password)."""

from __future__ import annotations

from coview.cli.main import main
from coview.server.config import load_config
from coview.server.logs import configure_logging

if __name__ == "__main__":
    configure_logging(load_config({}).log_level)
    raise SystemExit(main(["migrate"]))
