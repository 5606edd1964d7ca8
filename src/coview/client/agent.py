"""``coview.Agent``: the agent side from Python, for CRMs, bots and tests.

``Agent(server, group_id=..., username=..., password=...)`` signs in; ``agent.join(key)``
returns an ``AgentSession`` that keeps the visitor's picture (``screen()``), reports what the
visitor's side sends, and lets the agent message, ask for control, control, leave or end.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import simplejpeg
from PIL import Image

from coview import __version__
from coview.client.connection import SessionConnection
from coview.client.loop import BackgroundLoop
from coview.errors import AuthenticationFailed, CoviewError
from coview.protocol import client as proto


class JoinRefused(CoviewError):
    """The server refused to let the agent join (``code`` says why)."""


@dataclass(frozen=True, slots=True)
class Received:
    """Something the agent's side received: the message's header (and whether reliable)."""

    header: dict[str, Any]
    reliable: bool

    @property
    def type(self) -> str:
        return str(self.header.get("t", ""))


class Agent:
    """A signed-in agent."""

    def __init__(self, server: str, *, group_id: int = 0, username: str = "",
                 password: str = "", token: str = "") -> None:
        self.server = server.rstrip("/")
        self.group_id = group_id
        self.username = username
        if not token:
            response = httpx.post(f"{self.server}/api/v1/auth/login", json={
                "group_id": group_id, "username": username, "password": password},
                timeout=30)
            if response.status_code != 200:
                error = response.json().get("error", {})
                raise AuthenticationFailed(error.get("message", "sign-in failed"),
                                           code=error.get("code", "unauthenticated"))
            token = str(response.json()["token"])
        self.token = token

    def join(self, key: str, *, timeout: float = 15.0) -> AgentSession:
        """Join the session with ``key``; raise JoinRefused if the server says no."""
        session = AgentSession(self, key)
        session.wait_joined(timeout)
        return session


class AgentSession:
    """The agent's view of one session."""

    def __init__(self, agent: Agent, key: str) -> None:
        self.agent = agent
        self.key = key
        self._background = BackgroundLoop("coview-agent")
        self._changed = threading.Condition()
        self.received: list[Received] = []
        self.welcome: dict[str, Any] = {}
        self.refused: proto.Refused | None = None
        self.num = 0
        self.call_id = 0
        self.display: dict[str, Any] = {}
        self.paused = False
        self.rc_enabled = False
        self.guests: dict[str, Any] = {"count": 0, "agents": []}
        self.visitor_connected = True
        self.ended_reason: str | None = None
        self.connection_lost = False
        self.tiles_applied = 0
        self._canvas: np.ndarray[Any, np.dtype[np.uint8]] | None = None
        hello = {"t": "join", "key": key, "token": agent.token,
                 "client": f"coview-python-agent/{__version__}"}
        self.conn = SessionConnection(agent.server, hello, self._on_event)
        self._runner = self._background.submit(self._run())

    async def _run(self) -> None:
        try:
            await self.conn.run()
        except Exception as exc:
            with self._changed:
                self.refused = proto.Refused("cant_connect", str(exc))
                self._changed.notify_all()

    # -- waiting ---------------------------------------------------------------------------

    def wait_until(self, condition: Callable[[AgentSession], bool], timeout: float = 10.0,
                   what: str = "the condition") -> None:
        """Wait until ``condition(self)`` holds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"timed out waiting for {what}")
                self._changed.wait(remaining)

    def wait_joined(self, timeout: float) -> None:
        self.wait_until(lambda s: bool(s.welcome) or s.refused is not None, timeout, "join")
        if self.refused is not None:
            self.close()
            raise JoinRefused(self.refused.message, code=self.refused.code)

    def wait_for(self, kind: str, timeout: float = 10.0,
                 predicate: Callable[[Received], bool] | None = None) -> Received:
        """Wait for a message of type ``kind`` (from the visitor's side or the server)."""
        found: list[Received] = []

        def seen(s: AgentSession) -> bool:
            found[:] = [r for r in s.received if r.type == kind
                        and (predicate is None or predicate(r))]
            return bool(found)

        self.wait_until(seen, timeout, f"a {kind!r} message")
        return found[0]

    # -- what the agent sees ---------------------------------------------------------------

    def screen(self) -> Image.Image:
        """The visitor's picture as the agent sees it (white while paused or before any)."""
        with self._changed:
            canvas = self._canvas
            if canvas is None or self.paused:
                w = int(self.display.get("width") or 1)
                h = int(self.display.get("height") or 1)
                return Image.new("RGB", (w, h), "white")
            rgb = canvas[..., 2::-1].copy()
        return Image.fromarray(rgb, "RGB")

    async def _on_event(self, event: proto.Event) -> None:
        with self._changed:
            if isinstance(event, proto.Welcomed):
                self.welcome = event.info
                self.num = int(event.info.get("num", 0))
                self.call_id = int(event.info.get("call_id", 0))
                self._apply_state(event.info.get("state", {}))
            elif isinstance(event, proto.Refused):
                self.refused = event
                if event.code == "ended":
                    self.ended_reason = event.message
            elif isinstance(event, proto.ConnectionLost):
                self.connection_lost = True
            elif isinstance(event, proto.ConnectionRestored):
                self.connection_lost = False
            elif isinstance(event, proto.ConnectionExpired):
                self.ended_reason = self.ended_reason or "connection_expired"
            elif isinstance(event, proto.Delivered):
                self._message(event)
            self._changed.notify_all()

    def _apply_state(self, state: dict[str, Any]) -> None:
        if state.get("display"):
            self._set_display(state["display"])
        self.paused = bool(state.get("paused", False))
        self.rc_enabled = bool(state.get("rc_enabled", False))
        self.guests = state.get("guests", self.guests)
        self.visitor_connected = bool(state.get("visitor_connected", True))

    def _set_display(self, display: dict[str, Any]) -> None:
        size = (int(display.get("height", 0)), int(display.get("width", 0)))
        if size != (int(self.display.get("height", -1)), int(self.display.get("width", -1))):
            self._canvas = None
        self.display = dict(display)

    def _message(self, event: proto.Delivered) -> None:
        h, kind = event.header, str(event.header.get("t"))
        if kind == "tile":
            self._apply_tile(h, event.payload)
            return
        self.received.append(Received(h, event.reliable))
        if kind == "display":
            self._set_display(h)
        elif kind == "paused":
            self.paused = bool(h.get("paused"))
        elif kind == "rc":
            self.rc_enabled = bool(h.get("enabled"))
        elif kind == "guests":
            self.guests = {"count": h.get("count", 0), "agents": h.get("agents", [])}
        elif kind == "visitor":
            self.visitor_connected = bool(h.get("connected"))
        elif kind == "ended":
            self.ended_reason = str(h.get("reason"))

    def _apply_tile(self, h: dict[str, Any], jpeg: bytes) -> None:
        if h.get("e") != self.display.get("e"):
            return  # a tile of a picture that has since changed size or display
        width, height = int(self.display.get("width", 0)), int(self.display.get("height", 0))
        x, y, w, hgt = (int(h.get(k, 0)) for k in ("x", "y", "w", "h"))
        if not (x >= 0 and y >= 0 and x + w <= width and y + hgt <= height):
            return
        if self._canvas is None:
            if not h.get("key"):
                return  # wait for a key frame
            self._canvas = np.full((height, width, 4), 255, dtype=np.uint8)
        pixels = simplejpeg.decode_jpeg(jpeg, colorspace="BGRA")
        if pixels.shape[:2] != (hgt, w):
            return
        self._canvas[y:y + hgt, x:x + w] = pixels
        self.tiles_applied += 1

    # -- acting ----------------------------------------------------------------------------

    def _send(self, header: dict[str, Any], *, reliable: bool = True) -> None:
        self._call(self.conn.send(header, reliable=reliable)).result(timeout=10)

    def _call(self, coro: Any) -> Future[Any]:
        return self._background.submit(coro)

    def send_message(self, properties: dict[str, str]) -> None:
        """Send the visitor's application a custom message (its MESSAGE_RECEIVED event)."""
        self._send({"t": "message", "properties": {str(k): str(v)
                                                   for k, v in properties.items()}})

    def request_remote_control(self) -> None:
        """Ask the visitor for remote control."""
        self._send({"t": "rc_request", "username": self.agent.username})

    def send_input(self, action: str, **fields: Any) -> None:
        """Send remote control input: ``move``/``down``/``up``/``click`` (x, y, button) or
        ``key`` (keysym) in the picture's coordinates."""
        self._send({"t": "input", "action": action, **fields})

    def start_agent_video(self) -> None:
        """Start an agent video child session (the visitor's SDK joins it by itself)."""
        self._send({"t": "child", "action": "start", "session_type": "agentVideo",
                    "username": self.agent.username})

    def drop_connection(self) -> None:
        """Drop the transport without leaving (the client reconnects within the window)."""
        self._call(self.conn.drop_transport()).result(timeout=10)

    def leave(self) -> None:
        """Leave the session (it ends if this was the last agent and it does not persist)."""
        with contextlib.suppress(Exception):
            self._send({"t": "leave"})
        self.close()

    def end(self) -> None:
        """End the session for everyone."""
        with contextlib.suppress(Exception):
            self._send({"t": "end"})
            self.wait_until(lambda s: s.ended_reason is not None, 10, "the end")
        self.close()

    def close(self) -> None:
        """Stop this session object's thread."""
        with contextlib.suppress(Exception):
            self._call(self.conn.close()).result(timeout=5)
            self._runner.result(timeout=10)
        self._background.stop()
