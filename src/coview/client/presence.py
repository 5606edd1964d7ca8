"""``coview.PresenceVisitor``: a logged-in visitor shows online to agents (seed 001).

After ``visitor.init(..., visitor_id=...)``, ``PresenceVisitor(visitor).connect()`` keeps a
presence connection up by itself: through network drops (it reconnects within the group's
grace period, so agents see no false "offline") and across the machine sleeping (a jump of the
wall clock ahead of the monotonic one means the connection is stale: it reconnects at once).
``disconnect()`` (a logout, or exiting) is offline at once.

When an agent asks for a one-click session the SDK fires ``PRESENCE_SHOW_TERMS``. With the
default presence UI the SDK shows the terms itself, signals the agent ``terms`` ``displayed``,
then ``accepted`` (and starts the session under the visitor ID) or ``declined``; with it off,
the application does the same with ``signal_agent`` and ``visitor.start_session()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from typing import TYPE_CHECKING, Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

from coview._version import __version__
from coview.client.connection import websocket_url
from coview.client.events import EventCode
from coview.protocol import rules
from coview.protocol.frames import ProtocolError, decode_frame, encode_frame
from coview.protocol.version import PROTOCOL_VERSION

if TYPE_CHECKING:
    from coview.client.visitor import Visitor

log = logging.getLogger("coview.presence")

NAME = re.compile(rules.SIGNAL_NAME_PATTERN)
PING_SECONDS = 10.0
WATCH_SECONDS = 2.0
SLEEP_JUMP = 5.0  # the wall clock ran this much ahead of the monotonic one: we slept
MAX_BACKOFF = 5.0
# Refusals that retrying will not fix.
FINAL_REFUSALS = frozenset({"invalid_token", "token_expired", "invalid_group",
                            "invalid_parameter", "upgrade_required"})
TERMS_STATUSES = frozenset({"displayed", "accepted", "declined"})


class PresenceVisitor:
    """The presence connection of one visitor."""

    def __init__(self, visitor: Visitor) -> None:
        self.visitor = visitor
        self._use_default_ui = True
        self._wanted = False
        self._info: dict[str, str] = {}
        self._socket: ClientConnection | None = None
        self._runner: asyncio.Task[None] | None = None
        self._listener = ""  # the server's presence listener, once its welcome named one
        self._listener_failed = False  # it could not be reached: stay on the main port
        self.connected = False
        self.request_id = ""

    def default_ui(self, enabled: bool) -> None:
        """Show the one-click terms prompt in the SDK's own window (default) or not."""
        self._use_default_ui = bool(enabled)

    # -- the application's calls --------------------------------------------------------------

    def connect(self, info: dict[str, str] | None = None) -> None:
        """Show online to agents (needs ``init`` with a visitor ID). ``info``: what the visitor
        is looking at (application, page or screen names), shown to agents."""
        v = self.visitor
        if not v.visitor_id:
            v._fire(EventCode.INVALID_STATE, "presence needs init with a visitor ID")
            return
        if info is not None:
            self._info = _info(info)
        if self._wanted:
            return
        self._wanted = True
        v._submit(self._start())

    def disconnect(self) -> None:
        """Go offline at once (logout, exit)."""
        if not self._wanted:
            return
        self._wanted = False
        done = self.visitor._submit(self._stop())
        if not self.visitor._background.on_loop_thread:  # not from an event listener
            done.result(timeout=10)

    def set_info(self, info: dict[str, str]) -> None:
        """Tell agents what the visitor is looking at now."""
        self._info = _info(info)
        self.visitor._submit(self._send({"t": "info", "info": self._info}))

    def signal_agent(self, name: str, properties: dict[str, str]) -> None:
        """Signal the agent: ``"terms"`` with ``{"status": "displayed"|"accepted"|"declined"}``
        during a one-click start, or a name of the application's own."""
        v = self.visitor
        props = rules.bounded_properties(dict(properties), items=rules.PROPERTIES_MAX_ITEMS)
        if not NAME.fullmatch(name):
            v._fire(EventCode.INVALID_PARAMETER, "a signal name is 1 to 50 letters, digits, "
                    "'_', '.' or '-'")
            return
        if name == "terms" and props.get("status") not in TERMS_STATUSES:
            v._fire(EventCode.INVALID_PARAMETER,
                    "the terms status is displayed, accepted or declined")
            return
        if name == "terms" and props["status"] == "accepted":
            v._one_click_accepted = True  # the next start_session() is the one-click one
        v._submit(self._send({"t": "signal", "name": name, "properties": props}))

    # -- the connection (on the SDK's loop) ---------------------------------------------------

    async def _start(self) -> None:
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())

    async def _stop(self) -> None:
        socket = self._socket
        if socket is not None:
            with contextlib.suppress(Exception):
                await socket.send(encode_frame({"t": "bye"}))
                await socket.close()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner
        if self.connected:
            self.connected = False
            self.visitor._fire(EventCode.PRESENCE_DISCONNECTED)

    async def _send(self, header: dict[str, Any]) -> None:
        socket = self._socket
        if socket is not None:
            with contextlib.suppress(websockets.ConnectionClosed):
                await socket.send(encode_frame(header))

    async def _run(self) -> None:
        v = self.visitor
        main_url = websocket_url(v.server, "/ws/v1/presence")
        backoff = 0.3
        told_failure = False
        while self._wanted:
            url = self._listener or main_url
            try:
                async with connect(url, ping_interval=PING_SECONDS, ping_timeout=PING_SECONDS,
                                   open_timeout=10, max_size=64 * 1024,
                                   compression=None) as socket:
                    refused = await self._session(socket)
                    if refused in FINAL_REFUSALS:
                        self._wanted = False
                        return
                    backoff = 0.3
            except (OSError, TimeoutError, websockets.WebSocketException, ProtocolError) as exc:
                if self._listener:  # the listener is not reachable from here: main port
                    self._listener, self._listener_failed = "", True
                    continue
                if not self.connected and not told_failure:
                    told_failure = True
                    v._fire(EventCode.PRESENCE_CONNECT_FAILED, f"cannot reach {url}: {exc}",
                            error="cant_connect")
            finally:
                self._socket = None
            if self._wanted:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    async def _session(self, socket: ClientConnection) -> str:
        """One connection: hello, then messages until it closes; return a refusal's code."""
        v = self.visitor
        await socket.send(encode_frame({
            "t": "presence", "v": ".".join(map(str, PROTOCOL_VERSION)), "group_id": v.group_id,
            "visitor_id": v.visitor_id, "token": v._token, "info": self._info,
            "client": f"coview-python/{__version__}"}))
        watchdog = asyncio.create_task(self._watch(socket))
        try:
            async for data in socket:
                if not isinstance(data, bytes):
                    continue
                header = decode_frame(data, max_bytes=64 * 1024).header
                kind = header.get("t")
                if kind == "refused":
                    code = str(header.get("code", ""))
                    v._fire(EventCode.PRESENCE_CONNECT_FAILED, str(header.get("message", "")),
                            error=code)
                    return code
                if kind == "welcome":
                    self._socket = socket
                    if not self.connected:
                        self.connected = True
                        v._fire(EventCode.PRESENCE_CONNECTED)
                    listener = str(header.get("presence_url") or "")
                    if (listener.startswith(("ws://", "wss://")) and not self._listener
                            and not self._listener_failed):
                        # The server has a lighter port for presence: move there (within
                        # the grace period, so agents see no change).
                        self._listener = listener
                        self._socket = None
                        return ""
                elif kind == "show_terms":
                    await self._show_terms(header)
        finally:
            watchdog.cancel()
        return ""

    async def _watch(self, socket: ClientConnection) -> None:
        """Close a connection that the machine's sleep has left stale, to reconnect at once."""
        gap = time.time() - time.monotonic()
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            now_gap = time.time() - time.monotonic()
            if now_gap - gap > SLEEP_JUMP:
                log.info("woke from sleep: reconnecting presence")
                await socket.close()
                return
            gap = now_gap

    async def _show_terms(self, header: dict[str, Any]) -> None:
        v = self.visitor
        agent = header.get("agent") or {}
        self.request_id = str(header.get("request_id", ""))
        v._fire(EventCode.PRESENCE_SHOW_TERMS, "an agent asks to start a session",
                agent=str(agent.get("username", "")), agentname=str(agent.get("name", "")),
                request=self.request_id)
        if not self._use_default_ui:
            return
        try:
            ui = await asyncio.get_running_loop().run_in_executor(None, v._default_window)
        except Exception as exc:
            log.warning("the terms prompt cannot be shown: %s", exc)
            return
        await self._send({"t": "signal", "name": "terms", "properties": {"status": "displayed"}})

        def accepted() -> None:
            self.signal_agent("terms", {"status": "accepted"})
            v.start_session()

        def declined() -> None:
            self.signal_agent("terms", {"status": "declined"})

        ui.ask_terms(accepted, declined)


def _info(info: dict[str, str]) -> dict[str, str]:
    return rules.bounded_properties(dict(info), items=rules.INFO_MAX_ITEMS)
