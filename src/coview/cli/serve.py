"""``coview serve``: run the server on uvicorn until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from coview.errors import InvalidInput, Unavailable
from coview.server.app import create_app
from coview.server.config import ServerConfig, load_config
from coview.server.demo import DemoAccount, ensure_demo
from coview.server.hub import SessionHub
from coview.server.logs import configure_logging
from coview.server.session_protocol import websocket_protocol_for
from coview.storage.database import Database
from coview.storage.key_file import load_keyring

log = logging.getLogger("coview.serve")


class _Server(uvicorn.Server):
    """uvicorn's server, with Coview's order of shutdown and exit code.

    Live sessions end (reason ERROR, told to every client) before uvicorn closes connections:
    a client told nothing would wait out its reconnect window for sessions this process no
    longer holds. Scaled out (``--redis-url``) they are handed off instead: the process says it
    is gone, and its clients resume on the other processes, which take the sessions over.
    And uvicorn re-raises the signal once it has shut down, which makes the
    process end "killed by signal" although it stopped cleanly; service managers and scripts
    read that as a failure, so the signal is not re-raised.
    """

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.coview_app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        hub: SessionHub | None = getattr(self.coview_app.state, "hub", None)
        if hub is not None:
            await hub.hand_off()
        await super().shutdown(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()


async def _prepare(config: ServerConfig) -> DemoAccount | None:
    """Reach Redis, migrate the database and open its secrets before listening, so that a
    wrong URL or secret key fails in one line."""
    if config.redis_url:
        from coview.bus.redis import RedisBus  # loaded only when scaled out

        bus = RedisBus(config.redis_url)
        try:
            await bus.start()
        except Unavailable as exc:
            raise InvalidInput(f"--redis-url: {exc.message}") from None
        finally:
            await bus.close()
    database = _database(config)
    try:
        if await database.behind():
            _migrate_apart(config)
            # It may have sealed secrets with a key file it made: read the keys again.
            await database.close()
            database = _database(config)
        await database.migrate()
        demo = await ensure_demo(database) if config.demo else None
    finally:
        await database.close()
    return demo


def _database(config: ServerConfig) -> Database:
    keys = load_keyring(secret_key=config.secret_key, old_secret_key=config.old_secret_key,
                        data_dir=config.data_dir)
    return Database(config.effective_database_url, keys=keys)


def _migrate_apart(config: ServerConfig) -> None:
    """Upgrade the schema in a process of its own (``coview.cli.migrate_child``): Alembic and
    its templates (about 10 MB) are never loaded into the serving process. The child logs to
    this process's stderr; if it fails, it says why there in one line, and the server exits
    with its code."""
    env = {**os.environ, "COVIEW_DATA_DIR": str(config.data_dir)}
    if config.database_url:
        env["COVIEW_DATABASE_URL"] = config.database_url
    else:
        env.pop("COVIEW_DATABASE_URL", None)
    log.info("migrating the database schema in a process of its own")
    done = subprocess.run(
        [sys.executable, "-m", "coview.cli.migrate_child"], env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(done.returncode)
    log.info("database schema migrated", extra={"fields": {"result": done.stdout.strip()}})


def _announce(config: ServerConfig, demo: DemoAccount) -> None:
    base = f"http://{config.host}:{config.port}"
    print(f"Coview demo: group {demo.group_id}, username {demo.username}, "
          f"password {demo.password}", flush=True)
    if demo.api_key:
        print(f"  demo group API key (shown once): {demo.api_key}", flush=True)
    print(f"  sign in:   POST {base}/api/v1/auth/login", flush=True)
    print(f"  demo site: {base}/demo/", flush=True)


def run(args: argparse.Namespace) -> int:
    config = load_config({
        "host": args.host, "port": args.port, "data_dir": args.data_dir,
        "database_url": args.database_url, "redis_url": args.redis_url, "demo": args.demo,
        "presence_port": args.presence_port, "presence_url": args.presence_url,
        "public_url": args.public_url, "forwarded_allow_ips": args.forwarded_allow_ips,
        "allow_private_webhooks": args.allow_private_webhooks,
    })
    if not config.database_url:
        config.data_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(config.log_level)
    demo = asyncio.run(_prepare(config))
    if demo is not None:
        _announce(config, demo)
    app = create_app(config)
    server = _Server(uvicorn.Config(
        app, host=config.host, port=config.port, log_config=None,
        access_log=False, lifespan="on", timeout_graceful_shutdown=10,
        ws_max_size=16 * 1024 * 1024, server_header=False,
        # X-Forwarded-For is believed only from the proxies the operator names (none by
        # default): otherwise any local process could pick the address throttles count.
        proxy_headers=bool(config.forwarded_allow_ips),
        forwarded_allow_ips=list(config.forwarded_allow_ips) or None,
        ws=websocket_protocol_for(app),  # session sockets without the ASGI path
    ), app)
    server.run()
    return 0 if server.started else 1
