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
from PIL import Image

from coview._version import __version__
from coview.client.canvas import Canvas
from coview.client.child_host import ChildHost, FrameSource
from coview.client.connection import SessionConnection
from coview.client.loop import BackgroundLoop, wait_on
from coview.errors import AuthenticationFailed, Conflict, CoviewError, JoinRefused
from coview.protocol import client as proto


class OneClickFailed(CoviewError):
    """A one-click start led to no session: ``code`` is ``visitor_offline`` (not online when
    asked), ``declined``, ``offline`` (went offline while asked) or ``expired``."""


ONE_CLICK_POLL = 0.3


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

    def _api(self, method: str, path: str) -> httpx.Response:
        return httpx.request(method, f"{self.server}/api/v1{path}",
                             headers={"authorization": f"Bearer {self.token}"}, timeout=30)

    def presence(self, visitor_id: str) -> dict[str, Any]:
        """Whether a visitor is online, since when, what it reported, its last request."""
        response = self._api("GET", f"/presence/{visitor_id}")
        _raise_for(response)
        result: dict[str, Any] = response.json()
        return result

    def online(self, prefix: str = "") -> list[dict[str, Any]]:
        """The group's online visitors (whose visitor ID starts with ``prefix``)."""
        response = self._api("GET", f"/presence?q={prefix}")
        _raise_for(response)
        visitors: list[dict[str, Any]] = response.json()["visitors"]
        return visitors

    def start_one_click(self, visitor_id: str, *, timeout: float = 180.0,
                        on_status: Callable[[str], None] | None = None) -> AgentSession:
        """Ask an online visitor to start a session and join it once it starts (seed 001).

        ``on_status`` hears each terms status (``requested``, ``displayed``, ``accepted``,
        ``started``); raise OneClickFailed if the visitor declines, goes offline or waits
        too long.
        """
        response = self._api("POST", f"/presence/{visitor_id}/start")
        if response.status_code == 404:
            error = response.json().get("error", {})
            raise OneClickFailed(error.get("message", "the visitor is not online"),
                                 code=error.get("code", "visitor_offline"))
        _raise_for(response)
        request_id = str(response.json()["request_id"])
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            response = self._api("GET", f"/presence/{visitor_id}/requests/{request_id}")
            if response.status_code == 404:
                raise OneClickFailed("the visitor went offline", code="offline")
            _raise_for(response)
            request = response.json()
            status = str(request["status"])
            history = [str(s) for s in request["history"]]
            if on_status is not None:
                for passed in history[seen:]:
                    on_status(passed)
            seen = max(seen, len(history))
            if status == "started":
                return self.join(str(request["session_key"]))
            if status in ("declined", "offline", "expired"):
                raise OneClickFailed(f"the one-click request ended: {status}", code=status)
            time.sleep(ONE_CLICK_POLL)
        raise OneClickFailed("the visitor did not start in time", code="expired")

    def join(self, key: str, *, timeout: float = 15.0) -> AgentSession:
        """Join the session with ``key``; raise JoinRefused if the server says no."""
        session = AgentSession(self, key)
        session.wait_joined(timeout)
        return session


def _paused_by(value: object) -> str:
    """Who paused, as a ``paused`` message or the session state says (docs/protocol.md: the
    visitor unless it says the agent)."""
    return "agent" if value == "agent" else "visitor"


def _raise_for(response: httpx.Response) -> None:
    if response.status_code >= 400:
        error = response.json().get("error", {}) if response.content else {}
        raise CoviewError(error.get("message", f"HTTP {response.status_code}"),
                          code=error.get("code", "error"))


class AgentSession:
    """The agent's view of one session."""

    def __init__(self, agent: Agent, key: str) -> None:
        self.agent = agent
        self.key = key
        self._background = BackgroundLoop("coview-agent", "the session is over for this agent")
        self._changed = threading.Condition()
        self.received: list[Received] = []
        self.welcome: dict[str, Any] = {}
        self.refused: proto.Refused | None = None
        self.num = 0
        self.call_id = 0
        self.paused = False
        self.paused_by = "visitor"  # who paused: "visitor", or "agent" (a cobrowse agent)
        self.rc_enabled = False
        self.guests: dict[str, Any] = {"count": 0, "agents": []}
        self.visitor_connected = True
        self.ended_reason: str | None = None
        self.connection_lost = False
        self.viewing = False
        self.children: dict[str, dict[str, Any]] = {}
        self.features: dict[str, bool] = {}
        self._canvas = Canvas()
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
        finally:
            # Over (ended, refused, expired, replaced or closed): the thread goes with it;
            # what was received stays readable; acting raises CoviewError ``closed``.
            self._background.stop()

    # -- waiting ---------------------------------------------------------------------------

    def wait_until(self, condition: Callable[[AgentSession], bool], timeout: float = 10.0,
                   what: str = "the condition") -> None:
        """Wait until ``condition(self)`` holds."""
        wait_on(self._changed, lambda: condition(self), timeout, what)

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

    @property
    def display(self) -> dict[str, Any]:
        """What the visitor shows: name, width, height (the last ``display`` message)."""
        return self._canvas.display

    @property
    def tiles_applied(self) -> int:
        return self._canvas.tiles_applied

    def screen(self) -> Image.Image:
        """The visitor's picture as the agent sees it (white while paused or before any)."""
        with self._changed:
            if self.paused:
                width, height = self._canvas.size
                return Image.new("RGB", (max(1, width), max(1, height)), "white")
            return self._canvas.image()

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
            elif isinstance(event, proto.Replaced):
                self.ended_reason = self.ended_reason or "replaced"
            elif isinstance(event, proto.Delivered):
                self._message(event)
            self._changed.notify_all()

    def _apply_state(self, state: dict[str, Any]) -> None:
        if state.get("display"):
            self._canvas.set_display(state["display"])
        self.paused = bool(state.get("paused", False))
        self.paused_by = _paused_by(state.get("paused_by"))
        self.rc_enabled = bool(state.get("rc_enabled", False))
        self.guests = state.get("guests", self.guests)
        self.visitor_connected = bool(state.get("visitor_connected", True))
        self.features = {str(k): bool(v) for k, v in state.get("features", {}).items()}
        self.children = {str(c.get("session_type")): c for c in state.get("children", [])}

    def _message(self, event: proto.Delivered) -> None:
        h, kind = event.header, str(event.header.get("t"))
        if kind == "tile":
            self._canvas.apply_tile(h, event.payload)
            return
        self.received.append(Received(h, event.reliable))
        if kind == "display":
            self._canvas.set_display(h)
        elif kind == "paused":
            self.paused = bool(h.get("paused"))
            self.paused_by = _paused_by(h.get("by"))
        elif kind == "rc":
            self.rc_enabled = bool(h.get("enabled"))
        elif kind == "guests":
            self.guests = {"count": h.get("count", 0), "agents": h.get("agents", [])}
        elif kind == "visitor":
            self.visitor_connected = bool(h.get("connected"))
        elif kind == "ended":
            self.ended_reason = str(h.get("reason"))
        elif kind == "view":
            self.viewing = bool(h.get("viewing"))
        elif kind == "child" and h.get("action") == "started":
            self.children[str(h.get("session_type"))] = dict(h)
        elif kind == "child" and h.get("action") == "ended":
            self.children.pop(str(h.get("session_type")), None)

    # -- acting ----------------------------------------------------------------------------

    def _send(self, header: dict[str, Any], *, reliable: bool = True) -> None:
        if self.ended_reason is not None:
            raise Conflict(f"the session is over ({self.ended_reason})", code="closed")
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

    def send_gesture(self, kind: str, points: list[tuple[int, int]]) -> None:
        """Draw on the visitor's screen: ``"spot"`` (one point) or ``"line"`` (a stroke),
        in the picture's coordinates."""
        self._send({"t": "gesture", "kind": kind, "points": [[int(x), int(y)]
                                                             for x, y in points]})

    def start_agent_video(self, frames: FrameSource, *, fps: float = 10.0,
                          timeout: float = 15.0) -> ChildHost:
        """Start an agent video child session showing ``frames()`` (a webcam, say); the
        visitor's SDK joins it by itself."""
        return self.start_child("agentVideo", frames, fps=fps, timeout=timeout)

    def start_showback(self, frames: FrameSource, *, fps: float = 5.0,
                       timeout: float = 15.0) -> ChildHost:
        """Show the visitor ``frames()`` (the agent's screen): a ``showback`` child session."""
        return self.start_child("showback", frames, fps=fps, timeout=timeout)

    def start_child(self, session_type: str, frames: FrameSource, *, fps: float = 10.0,
                    timeout: float = 15.0) -> ChildHost:
        """Start a child session of ``session_type`` that sends ``frames()`` at ``fps``;
        raise JoinRefused if the server says no."""
        host = ChildHost(self.agent.server, self.agent.token, self.call_id, session_type, frames,
                         fps)
        try:
            host.wait_until(lambda h: bool(h.welcome) or h.refused is not None, timeout,
                            "the child session to start")
        except TimeoutError:
            host.stop()
            raise
        if host.refused is not None:
            host.stop()
            raise JoinRefused(host.refused.message, code=host.refused.code)
        return host

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
