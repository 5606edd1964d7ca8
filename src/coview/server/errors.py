"""How errors become responses: always JSON ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Match, Mount
from starlette.staticfiles import StaticFiles

from coview.errors import (
    AuthenticationFailed,
    Conflict,
    CoviewError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Throttled,
    Unavailable,
)

log = logging.getLogger("coview.server")

_STATUS: list[tuple[type[CoviewError], int]] = [
    (InvalidInput, 422),
    (NotFound, 404),
    (Conflict, 409),
    (AuthenticationFailed, 401),
    (PermissionDenied, 403),
    (Throttled, 429),
    (Unavailable, 503),
]

_HTTP_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type"}


def error_response(status: int, code: str, message: str, *,
                   fields: dict[str, str] | None = None,
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The one shape of every error the API answers."""
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return JSONResponse({"error": body}, status_code=status, headers=headers)


async def _coview_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CoviewError)
    return coview_error_response(exc)


def coview_error_response(exc: CoviewError) -> JSONResponse:
    """The answer to a request that failed with ``exc``."""
    status = next((s for kind, s in _STATUS if isinstance(exc, kind)), 400)
    headers: dict[str, str] = {}
    if isinstance(exc, Throttled):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, AuthenticationFailed):
        headers["WWW-Authenticate"] = 'Bearer realm="coview"'
    fields = exc.fields if isinstance(exc, InvalidInput) else None
    return error_response(status, exc.code, exc.message, fields=fields, headers=headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields: dict[str, str] = {}
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            return error_response(400, "malformed_json", "the request body is not valid JSON")
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        fields.setdefault(".".join(loc) or "body", str(error.get("msg", "invalid")))
    summary = "; ".join(f"{k}: {v}" for k, v in fields.items())
    return error_response(422, "invalid_input", f"invalid request: {summary}", fields=fields)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


def _allowed_methods(request: Request) -> list[str]:
    """Every method that a route of the app answers at the request's path.

    Starlette's own 405 names the methods of the first route that matched the path only, so a
    path served by several routes (``GET`` and ``PATCH /api/v1/agents/{username}``) answered
    ``Allow: GET``; RFC 9110 (section 15.5.6) wants every method the resource supports. Each
    method is tried against the app's routes as the router itself would match it.
    """
    base = {"type": "http", "path": request.scope["path"], "headers": [], "query_string": b"",
            # below a Mount, root_path has grown by the mount's path: start from the app's
            "root_path": request.scope.get("app_root_path", request.scope.get("root_path", ""))}
    routes: list[BaseRoute] = request.app.router.routes
    # HEAD is answered wherever GET is (middleware.HeadAsGet)
    return [method for method in _METHODS
            if any(_answers(route, {**base, "method": "GET" if method == "HEAD" else method})
                   for route in routes)]


def _answers(route: BaseRoute, scope: dict[str, Any]) -> bool:
    match, _ = route.matches(scope)
    if isinstance(route, Mount) and isinstance(route.app, StaticFiles):
        # a mount matches every method; its static files answer GET and HEAD only
        return match is not Match.NONE and scope["method"] in ("GET", "HEAD")
    return match is Match.FULL


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        methods = _allowed_methods(request)
        if methods:
            headers["Allow"] = ", ".join(methods)
    return error_response(exc.status_code, code, str(exc.detail), headers=headers)


async def _recursion_error(_request: Request, _exc: Exception) -> JSONResponse:
    return error_response(400, "malformed_json", "the request body is nested too deeply")


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error answering a request", exc_info=exc)
    return error_response(500, "internal", "an unexpected error occurred; it has been logged")


def install_error_handlers(app: FastAPI) -> None:
    """Make every error, expected or not, answer in the API's error shape."""
    app.add_exception_handler(CoviewError, _coview_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RecursionError, _recursion_error)
    app.add_exception_handler(Exception, _unexpected)
