"""ASGI middleware: HEAD as GET, body size limit, Host check, and the request log."""

from __future__ import annotations

import json
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coview.server.metrics import Metrics
from coview.server.origins import ServerOrigins

log = logging.getLogger("coview.http")


class _TooLarge(Exception):
    pass


def _error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


class HeadAsGet:
    """Answer HEAD wherever GET answers (RFC 9110, 9.3.2): the GET's status and headers,
    ``Content-Length`` included, and no body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headless(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headless)


class BodyLimit:
    """Answer 413 to any HTTP request whose body is over ``max_bytes``, declared or streamed."""

    def __init__(self, app: ASGIApp, *, max_bytes: int,
                 overrides: dict[str, int] | None = None) -> None:
        self.app = app
        self.default_max = max_bytes
        self.overrides = overrides or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        max_bytes = next((limit for prefix, limit in self.overrides.items()
                          if path.startswith(prefix)), self.default_max)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._reject(send, 400, "bad_request", "invalid Content-Length")
                    return
                if declared > max_bytes:
                    await self._reject(send, 413, "too_large", self._message(max_bytes))
                    return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(send, 413, "too_large", self._message(max_bytes))

    @staticmethod
    def _message(max_bytes: int) -> str:
        return f"the request body is larger than {max_bytes} bytes"

    @staticmethod
    async def _reject(send: Send, status: int, code: str, message: str) -> None:
        body = _error_body(code, message)
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())
        ]})
        await send({"type": "http.response.body", "body": body})


HOST_EXEMPT_PATHS = ("/healthz", "/readyz", "/metrics")  # probes and scrapers name a backend


def single_headers(headers: list[tuple[bytes, bytes]], *names: bytes) -> str | None:
    """Which of ``names`` a request repeats (a smuggling or confusion attempt), or None."""
    seen: set[bytes] = set()
    for name, _ in headers:
        lowered = name.lower()
        if lowered in names:
            if lowered in seen:
                return lowered.decode()
            seen.add(lowered)
    return None


class HostCheck:
    """Refuse (400) a request whose Host is not one of the server's names, or that repeats
    Host or Origin: a page on another name that resolves here (DNS rebinding) gets nothing."""

    def __init__(self, app: ASGIApp, *, origins: ServerOrigins) -> None:
        self.app = app
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or \
                str(scope.get("path", "")) in HOST_EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        headers = list(scope.get("headers", []))
        repeated = single_headers(headers, b"host", b"origin")
        host = next((v.decode("latin-1") for k, v in headers if k.lower() == b"host"), None)
        if repeated is not None:
            problem = f"the {repeated.title()} header is repeated"
        elif not self.origins.host_allowed(host):
            problem = "the Host header does not name this server (see --public-url)"
        else:
            await self.app(scope, receive, send)
            return
        log.info("request refused", extra={"fields": {"problem": problem}})
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = _error_body("bad_host", problem)
        await send({"type": "http.response.start", "status": 400, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())
        ]})
        await send({"type": "http.response.body", "body": body})


def route_template(scope: Scope) -> str:
    """The route that answered, with its parameters as ``{name}`` (never their values)."""
    route_path = str(getattr(scope.get("route"), "path", "") or "")
    if not route_path:
        return "unmatched"
    params = scope.get("path_params") or {}
    try:
        rendered = route_path.format(**params) if params else route_path
    except (KeyError, IndexError, ValueError):
        return route_path
    path = str(scope.get("path", ""))
    # Routers nested under a prefix report their own path; put the prefix back.
    if rendered and path.endswith(rendered):
        return path[: len(path) - len(rendered)] + route_path
    return route_path


class RequestLog:
    """Log each request by method, route template and status (never the raw path or query,
    which can hold keys), and count it in the metrics."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            template = route_template(scope)
            elapsed = time.perf_counter() - start
            method = str(scope.get("method", ""))
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(template).observe(elapsed)
            log.info("request", extra={"fields": {
                "method": method, "route": template, "status": status,
                "ms": round(elapsed * 1000, 2),
            }})


CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


class SecurityHeaders:
    """Headers every response carries; the agent console also gets a strict CSP."""

    def __init__(self, app: ASGIApp, *, console_prefix: str = "/agent") -> None:
        self.app = app
        self.console_prefix = console_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        console = str(scope.get("path", "")).startswith(self.console_prefix)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer")]
                if console:
                    headers += [(b"content-security-policy", CONSOLE_CSP.encode()),
                                (b"x-frame-options", b"DENY")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
