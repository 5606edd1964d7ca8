"""``coview``: serve, migrate, and administer groups, agents and visitor tokens.

Exit codes: 0 success, 2 a mistake in what was asked (with a one-line reason), 1 anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
import traceback
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, NoReturn

from coview._version import __version__
from coview.errors import Conflict, CoviewError, InvalidInput, NotFound, PermissionDenied

USAGE_ERRORS = (InvalidInput, NotFound, Conflict, PermissionDenied)


class UsageError(Exception):
    """A mistake in the command line itself."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="folder of the SQLite database and server files "
                        "(default ./coview-data; env COVIEW_DATA_DIR)")
    parser.add_argument("--database-url", help="postgresql+asyncpg://... to use PostgreSQL "
                        "(env COVIEW_DATABASE_URL)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="coview", description="Coview: live screen share, cobrowse and "
                     "presence for customer support.")
    parser.add_argument("--version", action="version", version=f"coview {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = commands.add_parser("serve", help="run the server")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default 8700)")
    _database_options(p)
    p.add_argument("--redis-url", help="redis://... message bus for several processes")
    p.add_argument("--presence-port", type=int, help="also serve presence connections alone "
                   "on this port (lighter per connection; the SDK moves there by itself)")
    p.add_argument("--presence-url", help="the ws(s):// URL clients use for that port, when "
                   "a proxy stands in front")
    p.add_argument("--public-url", action="append", metavar="URL",
                   help="how browsers reach this server, e.g. https://help.example.com "
                   "(repeat or comma-separate; default: the listen address); browsers' Origin "
                   "and Host must match one, or a group's trusted origin")
    p.add_argument("--forwarded-allow-ips", metavar="ADDRESSES",
                   help="comma-separated addresses of proxies whose X-Forwarded-For is "
                   "believed ('*' for any; default: none)")
    p.add_argument("--allow-private-webhooks", action="store_true", default=None,
                   help="let webhooks go to http:// URLs and to loopback, private and "
                   "link-local addresses (tests, private networks)")
    p.add_argument("--demo", action="store_true", help="create demo group 12345 with an admin "
                   "'demo' (password printed) and serve a demo site at /demo/")
    p.set_defaults(run="serve.run")

    p = commands.add_parser("share", help="share this machine's screen (the SDK's reference "
                            "application)")
    p.add_argument("--server", default="http://127.0.0.1:8700", help="the Coview server URL")
    p.add_argument("--group-id", type=int, required=True)
    p.add_argument("--key", help="session key, or 'random' (default: random, or the visitor "
                   "ID when given)")
    p.add_argument("--visitor-id", help="share under this visitor ID")
    p.add_argument("--token", help="the visitor token, where the group requires one")
    p.add_argument("--display", default="main", help="'main', 'all', or a name such as "
                   "'Monitor 2'")
    p.add_argument("--scale", type=float, default=1.0, help="capture scale (default 1.0)")
    p.add_argument("--tunnel", action="store_true", help="use the HTTP tunnel from the start")
    p.add_argument("--allow-control", action="store_true",
                   help="grant remote control when an agent asks")
    p.add_argument("--presence", action="store_true",
                   help="with --visitor-id: show online and wait for an agent's one-click "
                   "request instead of starting at once")
    p.add_argument("--accept", action="store_true",
                   help="with --presence: accept the agent's request without asking")
    p.set_defaults(run="share.run")

    p = commands.add_parser("migrate", help="create or upgrade the database schema")
    _database_options(p)
    p.set_defaults(run="admin.migrate")

    adm = commands.add_parser("admin", help="administer groups, agents and visitor tokens")
    admin_commands = adm.add_subparsers(dest="admin_command", metavar="ADMIN_COMMAND",
                                        parser_class=_Parser)

    p = admin_commands.add_parser("create-group", help="create a group; prints its API key "
                                  "and visitor-token secret once")
    p.add_argument("--group-id", type=int, required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--json", action="store_true", help="print JSON")
    _database_options(p)
    p.set_defaults(run="admin.create_group")

    p = admin_commands.add_parser("create-agent", help="create an agent in a group")
    p.add_argument("--group-id", type=int, required=True)
    p.add_argument("--username", required=True)
    p.add_argument("--password", help="default: a random one, printed")
    p.add_argument("--role", choices=["agent", "admin"], default="agent")
    p.add_argument("--privileges", nargs="+", metavar="PRIVILEGE",
                   help="remote_control, show, view, video (default: all)")
    p.add_argument("--display-name", default="")
    p.add_argument("--title", default="")
    p.add_argument("--agent-role", default="", metavar="TITLE",
                   help="the agent role title, e.g. 'Account Support' (visitors' masks by "
                   "role read it)")
    p.add_argument("--json", action="store_true", help="print JSON")
    _database_options(p)
    p.set_defaults(run="admin.create_agent")

    p = admin_commands.add_parser("visitor-token", help="print a signed visitor token")
    p.add_argument("--group-id", type=int, required=True)
    p.add_argument("--visitor-id", required=True)
    p.add_argument("--ttl", type=int, default=3600, help="seconds (default 3600)")
    _database_options(p)
    p.set_defaults(run="admin.visitor_token")
    return parser


def _command(target: str) -> Callable[[argparse.Namespace], Coroutine[Any, Any, int] | int]:
    # Imported on use, so that a quick admin command does not load the web server.
    module_name, function = target.split(".")
    module = importlib.import_module(f"coview.cli.{module_name}")
    command: Callable[[argparse.Namespace], Coroutine[Any, Any, int] | int] = getattr(
        module, function)
    return command


def _fail(code: int, message: str) -> int:
    print(f"coview: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    # Commands speak through their output and exit code; only ``serve`` logs (it sets up its
    # own handlers), so that a mistake stays one line.
    logging.getLogger().addHandler(logging.NullHandler())
    try:
        args = parser.parse_args(argv)
        target: str | None = getattr(args, "run", None)
        if target is None:
            raise UsageError("name a command (see 'coview --help')")
        result = _command(target)(args)
        return asyncio.run(result) if not isinstance(result, int) else result
    except UsageError as exc:
        return _fail(2, str(exc))
    except USAGE_ERRORS as exc:
        return _fail(2, exc.message)
    except CoviewError as exc:
        return _fail(1, exc.message)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("COVIEW_DEBUG"):
            traceback.print_exc()
        return _fail(1, f"unexpected {type(exc).__name__}: {exc} (set COVIEW_DEBUG=1 for "
                        "details)")
