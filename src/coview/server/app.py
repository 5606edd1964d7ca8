"""The ASGI application: ``create_app(config)``."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files

from fastapi import APIRouter, FastAPI
from starlette.staticfiles import StaticFiles

from coview._version import __version__
from coview.bus.base import Bus
from coview.bus.memory import MemoryBus
from coview.server import cobrowse
from coview.server.api import (
    agents,
    audit,
    auth,
    presence,
    sessions,
    settings,
    visitor_tokens,
    webhooks,
)
from coview.server.api.models import ERROR_RESPONSES
from coview.server.config import ServerConfig
from coview.server.errors import install_error_handlers
from coview.server.group_cache import GroupCache
from coview.server.health import router as health_router
from coview.server.hub import SessionHub
from coview.server.metrics import Metrics
from coview.server.middleware import (
    BodyLimit,
    HeadAsGet,
    HostCheck,
    RequestLog,
    SecurityHeaders,
)
from coview.server.presence import PresenceService
from coview.server.presence_listener import start_presence_listener
from coview.server.services import TOKEN_SECRET_NAME, Services, server_origins
from coview.server.tunnel import MAX_SEND_BODY, Tunnels
from coview.server.tunnel import router as tunnel_router
from coview.server.webhooks import Webhooks
from coview.server.ws import presence_socket, session_socket
from coview.storage.database import Database
from coview.storage.key_file import load_keyring

log = logging.getLogger("coview.server")

API_PREFIX = "/api/v1"


async def open_services(config: ServerConfig, metrics: Metrics) -> Services:
    """Connect the database (migrating it, sealing its secrets) and the bus."""
    keys = load_keyring(secret_key=config.secret_key, old_secret_key=config.old_secret_key,
                        data_dir=config.data_dir)
    database = Database(config.effective_database_url, keys=keys)
    await database.migrate()
    # Given, the secret key signs agent tokens itself (so changing it signs everyone out);
    # else a random signing key is kept in the database, sealed like every stored secret.
    secret = config.secret_key or await database.server_secret(
        TOKEN_SECRET_NAME, secrets.token_urlsafe(48)
    )
    bus: Bus = MemoryBus()
    if config.redis_url:  # Redis's client is loaded only when scaled out
        from coview.bus.redis import RedisBus

        bus = RedisBus(config.redis_url)
    try:
        await bus.start()
    except BaseException:
        await database.close()
        raise
    return Services(config=config, database=database, bus=bus, token_secret=secret,
                    metrics=metrics)


def create_app(config: ServerConfig) -> FastAPI:
    """Build the server's ASGI application for ``config``."""
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = await open_services(config, metrics)
        app.state.services = svc
        groups = GroupCache(svc)
        hooks = Webhooks(svc, groups)
        await hooks.start()
        cluster = None
        if config.redis_url:
            from coview.bus.cluster import Cluster

            cluster = Cluster(config.redis_url)
        presence_service = PresenceService(svc, hooks, groups, cluster=cluster)
        app.state.presence = presence_service
        await presence_service.start()
        listener = None
        if config.presence_port is not None:
            listener = await start_presence_listener(presence_service, config.host,
                                                     config.presence_port)
        hub = SessionHub(svc, presence=presence_service, webhooks=hooks, cluster=cluster)
        app.state.hub = hub
        metrics.count_live_sessions(lambda: len(hub.sessions))
        link = None
        if cluster is not None:
            from coview.server.remote import Link

            link = Link(hub, cluster)
        if cluster is not None:
            await cluster.start()
        await hub.start()
        tunnels = Tunnels(hub, cluster)
        app.state.tunnels = tunnels
        await tunnels.start()
        log.info("ready", extra={"fields": {"version": __version__,
                                            "proc": cluster.proc if cluster else ""}})
        try:
            yield
        finally:
            if listener is not None:
                listener.close()
                await listener.wait_closed()
            await tunnels.close()
            await hub.close()
            if link is not None:
                await link.close()
            if cluster is not None:
                await cluster.close()
            await presence_service.close()
            await hooks.close()
            await svc.bus.close()
            await svc.database.close()
            log.info("stopped")

    app = FastAPI(
        title="Coview",
        version=__version__,
        summary="Live screen share, cobrowse and presence for customer support",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    api = APIRouter(prefix=API_PREFIX, responses=ERROR_RESPONSES)
    for module in (auth, agents, settings, audit, sessions, visitor_tokens, presence,
                   webhooks, cobrowse):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(health_router)
    app.include_router(cobrowse.viewer_router)
    app.add_api_websocket_route("/ws/v1/session", session_socket)
    app.add_api_websocket_route("/ws/v1/presence", presence_socket)
    app.include_router(tunnel_router)
    web = files("coview.web")
    app.mount("/coview", StaticFiles(directory=str(web / "static")), name="assets")
    app.mount("/agent", StaticFiles(directory=str(web / "agent"), html=True), name="console")
    app.mount("/demo", StaticFiles(directory=str(web / "demo"), html=True), name="demo")
    app.add_middleware(HeadAsGet)  # innermost: the log and the checks see the HEAD
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes,
                       overrides={"/tunnel/": MAX_SEND_BODY})
    app.add_middleware(SecurityHeaders)
    app.add_middleware(HostCheck, origins=server_origins(config))
    app.add_middleware(RequestLog, metrics=metrics)
    return app
