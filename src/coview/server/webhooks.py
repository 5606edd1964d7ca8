"""Webhooks: events posted to the URLs in a group's settings, signed, retried, never blocking.

``emit`` only queues (a full queue drops the event and logs it); a worker reads the group's
production settings and posts to each webhook that wants the event, each delivery in its own
task with retries and exponential backoff. Every request carries ``Coview-Signature:
t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` keyed by the group's webhook secret,
which admins read at ``GET /api/v1/webhooks/secret``.

Targets obey the rule of :mod:`coview.server.egress` at send time too (https, public addresses,
checked as each connection opens); a refused target gets one log line and no retries, and
redirects are never followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from coview.domain.groups import Group
from coview.errors import CoviewError, InvalidInput
from coview.ids import GroupId
from coview.server.egress import url_refusal
from coview.server.group_cache import GroupCache
from coview.server.services import Services

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("coview.webhooks")

MAX_QUEUE = 10_000
MAX_IN_FLIGHT = 50
ATTEMPTS = 6
FIRST_DELAY = 1.0
TIMEOUT = 5.0


def webhook_secret(group: Group) -> str:
    """The group's webhook signing secret (derived from its visitor-token secret)."""
    return hmac.new(group.visitor_token_secret.encode(), b"coview-webhooks",
                    hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Coview-Signature`` header for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance: int = 300) -> bool:
    """Check a ``Coview-Signature`` header (what a receiver does; see docs/api.md)."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


class Webhooks:
    """The event queue and its deliveries."""

    def __init__(self, svc: Services, groups: GroupCache, *,
                 first_delay: float = FIRST_DELAY, attempts: int = ATTEMPTS) -> None:
        self.svc = svc
        self.groups = groups
        self.first_delay = first_delay
        self.attempts = attempts
        self._queue: asyncio.Queue[tuple[GroupId, str, dict[str, Any]]] = asyncio.Queue(
            MAX_QUEUE)
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._deliveries: set[asyncio.Task[None]] = set()
        self._worker: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._worker = asyncio.create_task(self._work(), name="coview-webhooks")

    async def close(self) -> None:
        tasks = [t for t in (self._worker, *self._deliveries) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._client is not None:
            await self._client.aclose()

    def emit(self, group_id: GroupId, event: str, data: dict[str, Any]) -> None:
        """Queue an event for the group's webhooks (never waits)."""
        try:
            self._queue.put_nowait((group_id, event, data))
        except asyncio.QueueFull:
            log.warning("webhook queue full: event dropped", extra={"fields": {
                "group_id": group_id, "event": event}})

    async def _work(self) -> None:
        while True:
            group_id, event, data = await self._queue.get()
            try:
                await self._dispatch(group_id, event, data)
            except CoviewError as exc:
                log.warning("webhook event not sent: %s", exc.message)
            except Exception:
                log.exception("webhook event not sent")

    async def _dispatch(self, group_id: GroupId, event: str, data: dict[str, Any]) -> None:
        found = await self.groups.get(group_id)
        if found is None:
            return
        group, settings = found
        targets = [w.url for w in settings.webhooks if not w.events or event in w.events]
        if not targets:
            return
        body = json.dumps({
            "id": uuid.uuid4().hex, "type": event, "group_id": group_id,
            "created": datetime.now(UTC).isoformat(), "data": data,
        }, separators=(",", ":")).encode()
        secret = webhook_secret(group)
        for url in targets:
            await self._slots.acquire()
            task = asyncio.create_task(self._deliver(url, event, body, secret))
            self._deliveries.add(task)
            task.add_done_callback(self._delivered)

    def _delivered(self, task: asyncio.Task[None]) -> None:
        self._deliveries.discard(task)
        self._slots.release()

    def _http(self) -> httpx.AsyncClient:
        """The HTTP client, made for the first delivery (httpx is not loaded before)."""
        if self._client is None:
            import httpx

            from coview.server.egress_transport import EgressTransport

            # Redirects are not followed: a public URL could answer 302 to an internal address.
            self._client = httpx.AsyncClient(
                timeout=TIMEOUT, follow_redirects=False,
                transport=EgressTransport(allow_private=self.svc.config.allow_private_webhooks))
        return self._client

    async def _deliver(self, url: str, event: str, body: bytes, secret: str) -> None:
        refused = url_refusal(url, allow_private=self.svc.config.allow_private_webhooks)
        if refused is not None:
            self._refused(url, event, refused)
            return
        import httpx

        try:
            client = self._http()
        except Exception:  # its TLS context (SSL_CERT_FILE, say): said, not lost in a task
            log.exception("webhook client cannot be made; event not sent",
                          extra={"fields": {"event": event}})
            return
        delay = self.first_delay
        for attempt in range(1, self.attempts + 1):
            headers = {"content-type": "application/json", "coview-event": event,
                       "coview-signature": sign(secret, self.svc.now(), body),
                       "user-agent": "coview-webhooks"}
            try:
                response = await client.post(url, content=body, headers=headers)
                if 200 <= response.status_code < 300:
                    return
                problem = f"HTTP {response.status_code}"
            except InvalidInput as exc:  # the host resolves to an address the rule refuses
                self._refused(url, event, exc.fields.get("url", exc.message))
                return
            except httpx.HTTPError as exc:
                problem = type(exc).__name__
            log.info("webhook delivery failed", extra={"fields": {
                "event": event, "attempt": attempt, "error": problem}})
            if attempt < self.attempts:
                await asyncio.sleep(delay)
                delay *= 2
        log.warning("webhook given up", extra={"fields": {"event": event}})

    @staticmethod
    def _refused(url: str, event: str, reason: str) -> None:
        # The host, not the URL: a query string may hold the receiver's secret.
        log.warning("webhook target refused", extra={"fields": {
            "event": event, "host": urlsplit(url).hostname or "", "reason": reason}})
