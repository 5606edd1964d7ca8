"""A child session an agent hosts (agent video, showback): frames sent until stopped or ended."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import simplejpeg
from PIL import Image

from coview._version import __version__
from coview.client.connection import SessionConnection
from coview.client.loop import BackgroundLoop, wait_on
from coview.protocol import client as proto

FrameSource = Callable[[], Image.Image]


class ChildHost:
    """A child session this agent started: sends its frames until stopped or ended."""

    def __init__(self, server: str, token: str, main_call_id: int, session_type: str,
                 frames: FrameSource, fps: float) -> None:
        self.session_type = session_type
        self._frames = frames
        self._interval = 1.0 / max(0.5, min(fps, 30.0))
        self._background = BackgroundLoop("coview-child-host", "the child session is over")
        self._changed = threading.Condition()
        self.welcome: dict[str, Any] = {}
        self.refused: proto.Refused | None = None
        self.guests = 0
        self.ended_reason: str | None = None
        self.frames_sent = 0
        hello = {"t": "host", "token": token, "main_call_id": main_call_id,
                 "session_type": session_type,
                 "client": f"coview-python-agent/{__version__}"}
        self.conn = SessionConnection(server, hello, self._on_event)
        self._runner = self._background.submit(self._run())

    @property
    def key(self) -> str:
        return str(self.welcome.get("key", ""))

    @property
    def call_id(self) -> int:
        return int(self.welcome.get("call_id", 0))

    def wait_until(self, condition: Callable[[ChildHost], bool], timeout: float = 10.0,
                   what: str = "the condition") -> None:
        """Wait until ``condition(self)`` holds."""
        wait_on(self._changed, lambda: condition(self), timeout, what)

    async def _run(self) -> None:
        sender = asyncio.create_task(self._send_frames())
        try:
            await self.conn.run()
        except Exception as exc:
            with self._changed:
                self.refused = proto.Refused("cant_connect", str(exc))
                self._changed.notify_all()
        finally:
            sender.cancel()
            self._background.stop()

    async def _send_frames(self) -> None:
        epoch = 0
        size: tuple[int, int] | None = None
        while True:
            await asyncio.sleep(self._interval)
            if not self.welcome or self.ended_reason is not None or not self.conn.is_open:
                continue
            if not self.guests:
                continue
            image = self._frames().convert("RGB")
            if image.size != size:
                size, epoch = image.size, epoch + 1
                await self.conn.send({"t": "display", "name": self.session_type,
                                      "width": size[0], "height": size[1], "e": epoch},
                                     reliable=True)
            jpeg = simplejpeg.encode_jpeg(np.asarray(image), quality=75, colorspace="RGB")
            await self.conn.send({"t": "tile", "e": epoch, "x": 0, "y": 0, "w": size[0],
                                  "h": size[1], "key": True}, jpeg, reliable=False)
            self.frames_sent += 1

    async def _on_event(self, event: proto.Event) -> None:
        with self._changed:
            if isinstance(event, proto.Welcomed):
                self.welcome = event.info
                self.guests = int(event.info.get("state", {}).get("guests", {}).get("count", 0))
            elif isinstance(event, proto.Refused):
                self.refused = event
            elif isinstance(event, proto.Delivered):
                h = event.header
                if h.get("t") == "guests":
                    self.guests = int(h.get("count", 0))
                elif h.get("t") == "ended":
                    self.ended_reason = str(h.get("reason"))
            elif isinstance(event, proto.ConnectionExpired | proto.Replaced):
                self.ended_reason = self.ended_reason or (
                    "replaced" if isinstance(event, proto.Replaced) else "connection_expired")
            self._changed.notify_all()

    def stop(self) -> None:
        """End the child session (the visitor's viewer closes)."""
        if self.welcome and self.ended_reason is None:
            with contextlib.suppress(Exception):
                self._background.submit(self.conn.send({"t": "end"}, reliable=True)).result(
                    timeout=10)
                self.wait_until(lambda h: h.ended_reason is not None, 10, "the end")
        with contextlib.suppress(Exception):
            self._background.submit(self.conn.close()).result(timeout=5)
            self._runner.result(timeout=10)
        self._background.stop()
