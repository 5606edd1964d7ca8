"""One running screen share session of the visitor SDK (``coview.Visitor``), on the SDK's
loop: the connection, capture and tiles, masks, remote control, gestures and child views."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any, Protocol

from coview.client import gestures
from coview.client.capture import Screen
from coview.client.connection import CantConnect, SessionConnection
from coview.client.events import (
    EventCode,
    SessionInfo,
    StartParams,
)
from coview.client.masks import Mask, WindowRect, mask_rects, picture, region_of
from coview.client.remote_control import Mapping, X11Input
from coview.client.share_children import ShareChildren, VideoViewer
from coview.client.tiles import Frame, Rect, TileEncoder
from coview.client.windows import VisitorWindows
from coview.protocol import client as proto
from coview.protocol.reasons import SessionEndReason

log = logging.getLogger("coview.visitor")

MAX_FPS = 20.0
# Refusals that a group setting causes (a visitor token required, the session limit).
_GROUP_SETTING_REFUSALS = frozenset({"invalid_token", "token_expired", "session_limit"})
IDLE_POLL = 0.25
MAX_GESTURES = 10  # gestures on the screen at once; more are not drawn
UNCOVER_GRACE = 0.5  # seconds a gesture's pixels stay put back after its windows went


class ShareHost(Protocol):
    """What a share needs of the :class:`~coview.client.visitor.Visitor` that started it."""

    server: str
    _group_id: int
    _masks: dict[int, Mask]
    _screen: Screen
    _app_window: WindowRect | None
    _video_viewer: VideoViewer | None
    _windows: VisitorWindows | None

    def _fire(self, code: EventCode, message: str = "", **properties: object) -> None: ...

    def _session_over(self, share: Share) -> None: ...

    def _session_windows(self) -> VisitorWindows: ...


class Share:
    """One running screen share session, on the SDK's loop."""

    def __init__(self, visitor: ShareHost, hello: dict[str, Any], params: StartParams) -> None:
        self.v = visitor
        self.params = params
        self.display = params.display
        self.conn = SessionConnection(visitor.server, hello, self._on_event,
                                      force_tunnel=params.force_tunnel,
                                      on_tunneling=self._on_tunneling)
        self.key = ""
        self.call_id = 0
        self.guests: dict[str, Any] = {"count": 0, "agents": []}
        self.paused = params.paused
        self.rc_enabled = False
        self.connected = False
        self.force_key = True
        self.epoch = 0
        self.shown: tuple[str, int, int] | None = None
        self.device_gone = False
        self.failing = ""  # the capture error being reported, until capture works again
        self.encoder = TileEncoder()
        self.mapping: Mapping | None = None
        self.rc_input: X11Input | None = None
        self.ended = False
        self._capture: asyncio.Task[None] | None = None
        self.sent_tiles = 0
        self.features: dict[str, bool] = {}
        self.children = ShareChildren(
            visitor.server, visitor._group_id, fire=visitor._fire,
            viewer=lambda: visitor._video_viewer, windows=lambda: visitor._windows,
            open_windows=visitor._session_windows, tunneling=lambda: self.conn.tunneling,
            viewing=self._set_viewing)
        self.viewing = False
        self.covers: dict[int, gestures.Cover] = {}
        self._gesture_ids = itertools.count(1)

    async def run(self) -> None:
        try:
            await self.conn.run()
        except CantConnect as exc:
            self.v._fire(EventCode.START_SESSION_FAILED, str(exc), error="cant_connect")
            self._over(SessionEndReason.CANT_CONNECT)
        except Exception as exc:
            log.exception("the session failed")
            self.v._fire(EventCode.EXCEPTION, f"{type(exc).__name__}: {exc}")
            self._over(SessionEndReason.ERROR)
        else:
            if not self.ended and self.connected:
                self._over(SessionEndReason.CONN_DROP)
        finally:
            await self.children.close()

    def _over(self, reason: SessionEndReason | None) -> None:
        if self.ended:
            return
        self.ended = True
        # Seed 000: SESSION_ENDED means the session and its children have all ended.
        self.children.ended()
        if self._capture is not None:
            self._capture.cancel()
        if self.rc_input is not None:
            self.rc_input.close()
        self.v._session_over(self)
        if reason is not None:
            self.v._fire(EventCode.SESSION_ENDED, reason=reason.value)

    async def _on_event(self, event: proto.Event) -> None:
        fire = self.v._fire
        if isinstance(event, proto.Welcomed):
            if not self.connected:
                self.connected = True
                info = event.info
                self.key, self.call_id = str(info.get("key")), int(info.get("call_id", 0))
                state = info.get("state", {})
                self._apply_guests(state.get("guests", {}))
                self.features = {str(k): bool(v) for k, v in state.get("features", {}).items()}
                fire(EventCode.CONNECTED_TO_SESSION, sessionkey=self.key, callid=self.call_id)
                await self.conn.send({"t": "paused", "paused": self.paused}, reliable=True)
                self._capture = asyncio.create_task(self._capture_forever())
        elif isinstance(event, proto.Refused):
            await self._refused(event)
        elif isinstance(event, proto.ConnectionLost):
            fire(EventCode.CONNECTION_WARNING, "the connection dropped; reconnecting")
            if self.rc_enabled:
                # Consent to remote control ends with the connection it was given on
                # (docs/sdk.md): nothing the agent sent meanwhile acts after the resume,
                # and the server and the agents hear it first thing after the resume.
                await self.set_rc(False)
                fire(EventCode.RC_DISABLED, "the connection dropped: remote control is off "
                     "until the visitor allows it again", reason="connection")
        elif isinstance(event, proto.ConnectionRestored):
            self.force_key = True
            fire(EventCode.CLEAR_WARNING)
        elif isinstance(event, proto.ConnectionExpired | proto.Replaced):
            # Replaced: another connection resumed this session with our token; it goes on
            # there, and for this visitor it ended as a lost connection does.
            await self.conn.close()
            self._over(SessionEndReason.CONN_DROP)
        elif isinstance(event, proto.Delivered):
            await self._message(event)

    async def _on_tunneling(self) -> None:
        self.v._fire(EventCode.TUNNELING, "connected over the HTTP tunnel")

    async def _refused(self, event: proto.Refused) -> None:
        fire = self.v._fire
        if event.code == "ended":
            self._over(SessionEndReason.read(event.message))
            return
        if event.code == "upgrade_required":
            fire(EventCode.UPGRADE_REQUIRED, event.message)
        if event.code in _GROUP_SETTING_REFUSALS:
            # Seed 000: "an operation not allowed by the group settings".
            fire(EventCode.PRIVILEGE_VIOLATION, event.message, error=event.code)
        fire(EventCode.START_SESSION_FAILED, event.message, error=event.code)
        self._over(None)

    def _apply_guests(self, guests: dict[str, Any]) -> None:
        count = int(guests.get("count", 0))
        changed = count != self.guests["count"]
        version = guests.get("gv", 0)
        if version != self.guests.get("gv"):
            # A new guest gets only pictures made knowing of it (its masks by role): a
            # whole new picture, made with this list.
            self.force_key = True
        self.guests = {"count": count, "agents": list(guests.get("agents", [])),
                       "gv": version if isinstance(version, int) else 0}
        if changed:
            self.v._fire(EventCode.GUEST_COUNT_CHANGE, count=count)

    async def _message(self, event: proto.Delivered) -> None:
        fire = self.v._fire
        h, kind = event.header, str(event.header.get("t"))
        if kind == "guests":
            self._apply_guests(h)
        elif kind == "ended":
            await self.conn.close()
            self._over(SessionEndReason.read(str(h.get("reason"))))
        elif kind == "keyframe":
            self.force_key = True
        elif kind == "message":
            props = h.get("properties", {})
            fire(EventCode.MESSAGE_RECEIVED, **{str(k): str(v) for k, v in props.items()})
        elif kind == "rc_request":
            fire(EventCode.MESSAGE_RECEIVED, "an agent asks for remote control",
                 coview="rc_request", agent=str(h.get("username", "")))
        elif kind == "input":
            await self._input(h)
        elif kind == "rc_disabled":
            self.rc_enabled = False
            await self._release_input()
            fire(EventCode.RC_DISABLED, str(h.get("message", "")))
        elif kind == "upgrade_available":
            fire(EventCode.UPGRADE_AVAILABLE, "a newer Coview SDK is available")
        elif kind == "child":
            await self.children.message(h)
        elif kind == "gesture":
            await self._gesture(h)

    async def _set_viewing(self, viewing: bool) -> None:
        """A showback started (the visitor views it, and stops showing) or stopped."""
        if viewing == self.viewing:
            return
        self.viewing = viewing
        if not viewing:
            self.force_key = True
        if not self.ended:
            await self.conn.send({"t": "view", "viewing": viewing}, reliable=True)

    # -- gestures --------------------------------------------------------------------------

    async def _gesture(self, h: dict[str, Any]) -> None:
        """Draw an agent's gesture; remember what it hides so capture puts that back."""
        mapping = self.mapping
        if (not self.features.get("gestures") or mapping is None or self.paused
                or self.viewing or len(self.covers) >= MAX_GESTURES):
            return
        gesture = gestures.parse_gesture(h)
        if gesture is None:
            return
        rects = gestures.gesture_rects(gesture, mapping)
        box = gestures.bounds(rects)
        if box is None:
            return
        loop = asyncio.get_running_loop()
        try:
            windows = await loop.run_in_executor(None, self.v._session_windows)
            pixels = await loop.run_in_executor(None, self.v._screen.grab, box)
        except Exception as exc:
            log.warning("a gesture cannot be drawn: %s", exc)
            return
        gesture_id = next(self._gesture_ids)
        self.covers[gesture_id] = gestures.Cover(box, pixels, tuple(rects))

        def uncover_later(done_id: int) -> None:
            loop.call_later(UNCOVER_GRACE, self.covers.pop, done_id, None)

        def gone(done_id: int) -> None:  # on the window thread, once the windows are off
            loop.call_soon_threadsafe(uncover_later, done_id)

        windows.show_gesture(gesture_id, rects, gone)

    async def _input(self, h: dict[str, Any]) -> None:
        """Apply an agent's input, only while remote control is on (the server checks too)."""
        mapping = self.mapping
        if not self.rc_enabled or mapping is None or self.paused:
            return
        if self.rc_input is None:
            self.rc_input = X11Input()
        masks = self._mask_rects(Rect(0, 0, 0, 0), self.guests)
        rc_input = self.rc_input

        def apply() -> bool:
            if not self.rc_enabled:  # revoked meanwhile (enable_rc, from another thread)
                return False
            return rc_input.apply(str(h.get("action", "")), mapping, masks, h)

        try:
            await asyncio.get_running_loop().run_in_executor(None, apply)
        except Exception as exc:
            log.warning("remote control input failed: %s", exc)

    async def end(self) -> None:
        if self.ended:
            return
        if self.connected:
            await self.conn.send({"t": "end"}, reliable=True)
        self._over(SessionEndReason.THIS_SIDE)  # before closing, which wakes run()
        await self.conn.close()

    async def set_paused(self, paused: bool) -> None:
        self.paused = paused
        if paused:
            await self._release_input()  # no agent input acts while paused
        self.force_key = True
        await self.conn.send({"t": "paused", "paused": paused}, reliable=True)

    async def set_rc(self, enabled: bool) -> None:
        self.rc_enabled = enabled
        if not enabled:
            await self._release_input()
        await self.conn.send({"t": "rc", "enabled": enabled}, reliable=True)

    async def _release_input(self) -> None:
        """Let go of every button the agent held: control has ended."""
        rc_input = self.rc_input
        if rc_input is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(None, rc_input.release_all)
            except Exception as exc:
                log.warning("remote control release failed: %s", exc)

    async def _capture_failed(self, message: str) -> None:
        """Report a capture error once (EXCEPTION, and the session record if asked)."""
        if message == self.failing:
            return
        self.failing = message
        log.warning("%s", message)
        self.v._fire(EventCode.EXCEPTION, message)
        if self.params.report_errors:
            await self.conn.send({"t": "error", "message": message[:500]}, reliable=True)

    def info(self) -> SessionInfo:
        return SessionInfo(
            call_id=self.call_id, n_guests=int(self.guests["count"]), key=self.key,
            rc_enabled=self.rc_enabled, is_paused=self.paused,
            sb_enabled=self.features.get("showback", False),
            gestures_enabled=self.features.get("gestures", False),
            is_connected=self.conn.is_open,
            is_showing=self.connected and not self.ended and not self.viewing,
            is_viewing=self.viewing,
            display_name=self.display.display_name,
            presence_start=self.params.presence_start,
        )

    # -- capture ---------------------------------------------------------------------------

    def _mask_rects(self, region: Rect, guests: dict[str, Any]) -> list[Rect]:
        return mask_rects(self.v._masks.values(), region, guests)

    def _grab(self, region: Rect, key: bool) -> tuple[Frame, list[Any], int]:
        """Capture, mask and encode (runs in a worker thread); with the version of the
        guests list the masks were chosen for."""
        guests = self.guests
        frame = picture(self.v._screen, region, self.display,
                        self._mask_rects(region, guests), list(self.covers.values()))
        return frame, self.encoder.encode(frame, key=key), int(guests.get("gv", 0))

    async def _capture_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.ended:
            started = loop.time()
            if (self.paused or self.viewing or not self.guests["count"]
                    or not self.conn.is_open):
                await asyncio.sleep(IDLE_POLL)
                continue
            try:
                # what the DisplayParams show on the virtual screen (None: not there now)
                region = region_of(self.display.display_name, self.v._screen,
                                   self.v._app_window)
            except Exception as exc:  # the application's window callable failed, say
                await self._capture_failed(f"cannot find what to show: {exc}")
                await asyncio.sleep(IDLE_POLL)
                continue
            if region is None:
                if not self.device_gone:
                    self.device_gone = True
                    self.v._fire(EventCode.DEVICE_DISCONNECTED, display=self.display.display_name)
                    await self.conn.send({"t": "device", "connected": False}, reliable=True)
                await asyncio.sleep(IDLE_POLL)
                continue
            if self.device_gone:
                self.device_gone = False
                self.force_key = True
                self.v._fire(EventCode.DEVICE_RECONNECTED, display=self.display.display_name)
                await self.conn.send({"t": "device", "connected": True}, reliable=True)
            key, self.force_key = self.force_key, False
            try:
                frame, tiles, made_for = await loop.run_in_executor(None, self._grab, region,
                                                                    key)
            except Exception as exc:  # a display that vanished mid-grab, say
                await self._capture_failed(f"capture failed: {exc}")
                self.force_key = True
                await asyncio.sleep(IDLE_POLL)
                continue
            self.failing = ""
            self.mapping = Mapping(region, frame.shape[1], frame.shape[0])
            shown = (self.display.display_name, frame.shape[1], frame.shape[0])
            if shown != self.shown or key:
                if shown != self.shown:
                    self.epoch += 1
                    self.shown = shown
                await self.conn.send({"t": "display", "name": shown[0], "width": shown[1],
                                      "height": shown[2], "e": self.epoch}, reliable=True)
            for tile in tiles:
                r = tile.rect
                header = {"t": "tile", "e": self.epoch, "x": r.x, "y": r.y, "w": r.w,
                          "h": r.h, "gv": made_for}
                if tile.key:
                    header["key"] = True
                await self.conn.send(header, tile.jpeg, reliable=False)
                self.sent_tiles += 1
            await asyncio.sleep(max(0.0, 1 / MAX_FPS - (loop.time() - started)))

