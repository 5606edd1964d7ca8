"""Liveness, readiness and metrics: ``/healthz``, ``/readyz``, ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import JSONResponse, Response

from coview._version import __version__
from coview.errors import Unavailable
from coview.server.auth import services

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> JSONResponse:
    """The process is up and answering."""
    return JSONResponse({"status": "ok", "version": __version__})


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """The process can serve: its database and bus both answer (503 says which does not)."""
    svc = services(request)
    parts: dict[str, str] = {}
    for name, check in (("database", svc.database.ping), ("bus", svc.bus.ping)):
        try:
            await check()
            parts[name] = "ok"
        except Unavailable:
            parts[name] = "down"
    ready = all(state == "ok" for state in parts.values())
    return JSONResponse({"status": "ready" if ready else "not ready", **parts},
                        status_code=200 if ready else 503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus metrics of this process."""
    return Response(generate_latest(services(request).metrics.registry),
                    media_type=CONTENT_TYPE_LATEST)
