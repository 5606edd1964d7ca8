"""The visitor's side of a child session (agent video, showback): the SDK joins it by itself
with the invitation's one-time token, keeps its picture and hands each frame to a viewer.

Seed 000: CHILD_SESSION_STARTED once joined (``sessionkey``, ``sessiontype``, ``timestamp``,
``username``), JOIN_CHILD_SESSION_FAILED when the invitation cannot be taken up,
CHILD_SESSION_ENDED (``sessiontype``) when it ends, whichever side ends it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from PIL import Image

from coview._version import __version__
from coview.client.canvas import Canvas
from coview.client.connection import CantConnect, SessionConnection
from coview.client.events import EventCode
from coview.protocol import client as proto

log = logging.getLogger("coview.visitor")

Fire = Callable[..., None]
Present = Callable[[str, Image.Image | None], None]  # (session type, picture or None: gone)
Changed = Callable[["ChildView"], Awaitable[None]]

SHOWBACK = "showback"


class ChildView:
    """One child session the visitor views."""

    def __init__(self, server: str, group_id: int, notice: dict[str, Any], *, fire: Fire,
                 present: Present, on_joined: Changed, on_end: Changed,
                 force_tunnel: bool = False) -> None:
        self.session_type = str(notice.get("session_type", ""))
        self.key = str(notice.get("key", ""))
        self.username = str(notice.get("username", ""))
        self.timestamp = str(notice.get("timestamp", ""))
        self._fire, self._present = fire, present
        self._on_joined, self._on_end = on_joined, on_end
        self.canvas = Canvas()
        self.joined = False
        self.ended = False
        hello = {"t": "join", "role": "viewer", "key": self.key,
                 "token": str(notice.get("join_token", "")), "group_id": group_id,
                 "client": f"coview-python/{__version__}"}
        self.conn = SessionConnection(server, hello, self._on_event, force_tunnel=force_tunnel)

    async def run(self) -> None:
        try:
            await self.conn.run()
        except CantConnect as exc:
            await self._failed("cant_connect", str(exc))
        except Exception as exc:
            log.exception("a child session failed")
            if self.joined:
                await self._end()
            else:
                await self._failed("error", f"{type(exc).__name__}: {exc}")
        else:
            if self.joined:
                await self._end()  # the connection is gone for good

    async def _on_event(self, event: proto.Event) -> None:
        if isinstance(event, proto.Welcomed):
            if self.joined:
                return  # a resume
            self.joined = True
            display = event.info.get("state", {}).get("display")
            if display:
                self.canvas.set_display(display)
            if self.session_type == SHOWBACK:
                self._fire(EventCode.SWITCHING_TO_VIEW, "the agent is showing their screen",
                           sessionkey=self.key, username=self.username)
            self._fire(EventCode.CHILD_SESSION_STARTED, sessionkey=self.key,
                       sessiontype=self.session_type, timestamp=self.timestamp,
                       username=self.username)
            await self._on_joined(self)
        elif isinstance(event, proto.Refused):
            if self.joined:
                await self._end()
            else:
                await self._failed(event.code, event.message)
        elif isinstance(event, proto.ConnectionExpired | proto.Replaced):
            await self._end()
        elif isinstance(event, proto.Delivered):
            h, kind = event.header, event.header.get("t")
            if kind == "display":
                self.canvas.set_display(h)
            elif kind == "tile":
                if self.canvas.apply_tile(h, event.payload) and not self.ended:
                    self._present(self.session_type, self.canvas.image())
            elif kind == "ended":
                await self.conn.close()
                await self._end()

    async def leave(self) -> None:
        """The visitor closes the viewer (``close_child_session``): the child session ends."""
        if self.joined and not self.ended:
            await self.conn.send({"t": "leave"}, reliable=True)
        await self.close()

    async def close(self) -> None:
        """Stop viewing (the parent session is over, or the agent ended the child)."""
        await self.conn.close()
        await self._end()

    async def _end(self) -> None:
        if self.ended:
            return
        self.ended = True
        self._present(self.session_type, None)
        if self.joined:
            self._fire(EventCode.CHILD_SESSION_ENDED, sessiontype=self.session_type)
        await self._on_end(self)

    async def _failed(self, code: str, message: str) -> None:
        if self.ended:
            return
        self.ended = True
        self._fire(EventCode.JOIN_CHILD_SESSION_FAILED, message, sessionkey=self.key,
                   sessiontype=self.session_type, error=code)
        await self._on_end(self)


class FrameWindows(Protocol):
    """The SDK's own viewer windows (``coview.client.windows.VisitorWindows``)."""

    def show_frame(self, session_type: str, title: str, image: Image.Image) -> None: ...

    def close_viewer(self, session_type: str) -> None: ...


def present(viewer: Callable[[str, Image.Image | None], None] | None,
            windows: FrameWindows | None, session_type: str, image: Image.Image | None) -> None:
    """Show a child session's picture (None: it is over) where the application wants."""
    if viewer is not None:
        try:
            viewer(session_type, image)
        except Exception:
            log.exception("the application's video viewer failed")
        return
    if windows is None:
        return
    if image is None:
        windows.close_viewer(session_type)
    else:
        title = "Agent's screen" if session_type == SHOWBACK else "Agent video"
        windows.show_frame(session_type, title, image)
