"""The child sessions of a visitor's screen share (seed 000): an agent's video or showback,
each joined as it starts, shown in the visitor's viewer, and ended with the share."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from PIL import Image

from coview.client.child import SHOWBACK, ChildView, present
from coview.client.events import EventCode
from coview.client.windows import VisitorWindows

Fire = Callable[..., None]
VideoViewer = Callable[[str, Image.Image | None], None]


class ShareChildren:
    """The child sessions running in one share, by session type."""

    def __init__(self, server: str, group_id: int, *, fire: Fire,
                 viewer: Callable[[], VideoViewer | None],
                 windows: Callable[[], VisitorWindows | None],
                 open_windows: Callable[[], VisitorWindows],
                 tunneling: Callable[[], bool],
                 viewing: Callable[[bool], Awaitable[None]]) -> None:
        """``viewer``: the application's video viewer, if it set one; ``windows`` the SDK's
        windows, if shown; ``open_windows`` shows them (on a worker thread); ``viewing`` is
        told when a showback starts and stops (the visitor views instead of showing)."""
        self.server = server
        self.group_id = group_id
        self.fire = fire
        self.viewer = viewer
        self.windows = windows
        self.open_windows = open_windows
        self.tunneling = tunneling
        self.viewing = viewing
        self.running: dict[str, ChildView] = {}
        self._runs: set[asyncio.Task[None]] = set()

    async def message(self, h: dict[str, Any]) -> None:
        """A ``child`` message: one started (join it) or ended (leave it)."""
        session_type = str(h.get("session_type", ""))
        if h.get("action") == "started" and h.get("join_token"):
            if session_type in self.running:
                return  # replayed after a resume: already joined
            if self.viewer() is None:
                try:
                    await asyncio.get_running_loop().run_in_executor(None, self.open_windows)
                except Exception as exc:
                    self.fire(EventCode.JOIN_CHILD_SESSION_FAILED,
                              f"the viewer cannot be shown ({exc}); see set_video_viewer",
                              sessionkey=str(h.get("key", "")), sessiontype=session_type,
                              error="no_viewer")
                    return
            child = ChildView(self.server, self.group_id, h, fire=self.fire,
                              present=self.present, on_joined=self._joined,
                              on_end=self._over, force_tunnel=self.tunneling())
            self.running[session_type] = child
            task = asyncio.create_task(child.run())
            self._runs.add(task)
            task.add_done_callback(self._runs.discard)
        elif h.get("action") == "ended":
            running = self.running.get(session_type)
            if running is not None:
                await running.close()

    def present(self, session_type: str, image: Image.Image | None) -> None:
        present(self.viewer(), self.windows(), session_type, image)

    async def _joined(self, child: ChildView) -> None:
        if child.session_type == SHOWBACK:
            # Seed 000: the agent shows and the visitor views; the visitor stops showing.
            await self.viewing(True)

    async def _over(self, child: ChildView) -> None:
        if self.running.get(child.session_type) is child:
            del self.running[child.session_type]
        if child.session_type == SHOWBACK:
            await self.viewing(False)

    async def leave(self, session_type: str) -> None:
        """The visitor closes one (INVALID_STATE if it is not running)."""
        child = self.running.get(session_type)
        if child is None:
            self.fire(EventCode.INVALID_STATE, f"there is no {session_type} child session")
            return
        await child.leave()

    def ended(self) -> None:
        """The share ended: so did its children (CHILD_SESSION_ENDED for each joined one)."""
        for child in list(self.running.values()):
            if child.joined and not child.ended:
                child.ended = True
                self.present(child.session_type, None)
                self.fire(EventCode.CHILD_SESSION_ENDED, sessiontype=child.session_type)

    async def close(self) -> None:
        """Close every child's connection and wait for them."""
        for child in list(self.running.values()):
            await child.close()
        if self._runs:
            await asyncio.gather(*self._runs, return_exceptions=True)
