"""``coview.Visitor``: the screen share visitor SDK (seed 000).

The SDK runs its network and capture on a background thread with an asyncio loop; public
methods return at once and report through events, which listeners receive on that thread.
``wait_for`` lets scripts and tests wait for an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any

from PIL import Image

from coview._version import __version__
from coview.client import gestures
from coview.client.capture import Display, Screen, scaled
from coview.client.child import SHOWBACK, ChildView
from coview.client.connection import CantConnect, SessionConnection
from coview.client.events import (
    RANDOM_KEY,
    DisplayParams,
    Event,
    EventCode,
    SessionInfo,
    StartParams,
)
from coview.client.loop import BackgroundLoop
from coview.client.remote_control import Mapping, X11Input
from coview.client.tiles import Frame, Rect, TileEncoder, black_out
from coview.client.ui import DEFAULT_TERMS_URL, DefaultUI, identify_monitors
from coview.client.windows import VisitorWindows
from coview.protocol import client as proto
from coview.protocol import rules
from coview.protocol.reasons import SessionEndReason

log = logging.getLogger("coview.visitor")

Listener = Callable[[Event], None]
WindowRect = Callable[[], tuple[int, int, int, int] | None]
VideoViewer = Callable[[str, Image.Image | None], None]

MAX_FPS = 20.0
# Refusals that a group setting causes (a visitor token required, the session limit).
_GROUP_SETTING_REFUSALS = frozenset({"invalid_token", "token_expired", "session_limit"})
IDLE_POLL = 0.25
MAX_GESTURES = 10  # gestures on the screen at once; more are not drawn
UNCOVER_GRACE = 0.5  # seconds a gesture's pixels stay put back after its windows went


@dataclass(frozen=True, slots=True)
class Mask:
    """A region never shown: a fixed rectangle, or a window's rectangle asked each frame.

    ``roles``: the agent role titles it hides the region from (empty: every agent). The SDK
    sends one picture to every agent of the session, so the region is hidden from all of
    them while any agent of those roles is in the session, and also while any agent's role
    is not known (fail closed: nobody sees a pixel a mask meant for them hides).
    """

    mask_id: int
    rect: Rect | None
    window: WindowRect | None
    roles: frozenset[str]

    def applies(self, guests: dict[str, Any]) -> bool:
        """Whether the region is hidden in a picture for these guests (a ``guests`` list)."""
        if not self.roles:
            return True
        agents = list(guests.get("agents", ()))
        if len(agents) < int(guests.get("count", 0)):
            return True  # someone whose role is not known yet
        return any(not isinstance(a.get("agentrole"), str) or a["agentrole"] in self.roles
                   for a in agents)


class Visitor:
    """The visitor side of screen share sessions."""

    def __init__(self, server: str) -> None:
        self.server = server.rstrip("/")
        self._listeners: list[Listener] = []
        self._history: deque[Event] = deque(maxlen=1000)
        self._seen = threading.Condition()
        self._background = BackgroundLoop("coview-visitor")
        self._screen = Screen()
        self._group_id = 0
        self._visitor_id = ""
        self._token = ""
        self._identity: dict[str, str] = {}
        self._initialized = False
        self._use_default_ui = True
        self._session: _Share | None = None
        self._runs: list[Future[None]] = []
        self._masks: dict[int, Mask] = {}
        self._mask_ids = itertools.count(1)
        self._app_window: WindowRect | None = None
        self._ui: DefaultUI | None = None
        self._windows: VisitorWindows | None = None
        self._video_viewer: VideoViewer | None = None
        self._asking_terms = False
        self._one_click_accepted = False  # the visitor accepted an agent's one-click request
        self.terms_url = DEFAULT_TERMS_URL

    # -- events ----------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(event)`` for every event (on the SDK's thread)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def _fire(self, code: EventCode, message: str = "", **properties: object) -> None:
        event = Event(code, message, {k: str(v) for k, v in properties.items()})
        with self._seen:
            self._history.append(event)
            self._seen.notify_all()
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("an event listener failed")

    def wait_for(self, code: EventCode, timeout: float = 10.0,
                 predicate: Callable[[Event], bool] | None = None) -> Event:
        """Wait for (and consume) the first event of ``code`` not yet waited for."""
        deadline = time.monotonic() + timeout
        with self._seen:
            while True:
                for event in self._history:
                    if event.code is code and (predicate is None or predicate(event)):
                        self._history.remove(event)
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no {code.name} within {timeout} s")
                self._seen.wait(remaining)

    def events(self) -> list[Event]:
        """The events not yet consumed by ``wait_for`` (oldest first)."""
        with self._seen:
            return list(self._history)

    # -- set-up ----------------------------------------------------------------------------

    def init(self, group_id: int, token: str = "", name: str = "", email: str = "",
             phone: str = "", visitor_id: str = "") -> None:
        """Say which group, and (after the application's login) which visitor, this is.

        May be called again after login with a visitor ID (seed 001).
        """
        if not isinstance(group_id, int) or not 1 <= group_id <= rules.GROUP_ID_MAX:
            self._fire(EventCode.INVALID_PARAMETER, "group_id must be a positive number")
            return
        if visitor_id and not rules.is_key(visitor_id):
            self._fire(EventCode.INVALID_PARAMETER,
                       "visitor_id must be 1 to 50 letters, digits, '_' or '-'")
            return
        if self._initialized and group_id != self._group_id:
            self._fire(EventCode.INVALID_PARAMETER, "init again with the same group ID")
            return
        self._group_id, self._visitor_id, self._token = group_id, visitor_id, token
        self._identity = {"name": name[:rules.NAME_MAX_LENGTH],
                          "email": email[:rules.EMAIL_MAX_LENGTH],
                          "phone": phone[:rules.PHONE_MAX_LENGTH]}
        self._initialized = True
        self._fire(EventCode.VISITOR_INITIALIZED)

    @property
    def group_id(self) -> int:
        return self._group_id

    @property
    def visitor_id(self) -> str:
        return self._visitor_id

    def default_ui(self, enabled: bool) -> None:
        """Show the SDK's own window (terms, key, controls), or let the application do it."""
        self._use_default_ui = bool(enabled)

    @property
    def uses_default_ui(self) -> bool:
        return self._use_default_ui

    def set_application_window(self, rect: WindowRect | None) -> None:
        """Tell the SDK where the application's window is (for ``display_name="application"``
        and for masking whole windows): a callable returning (x, y, width, height) on the
        virtual screen, or None while the window is not shown."""
        self._app_window = rect

    def set_video_viewer(self, viewer: VideoViewer | None) -> None:
        """Show child sessions (agent video, showback) in the application's own window
        (the seed's SetVideoViewerContext): ``viewer(session_type, picture)`` gets each new
        picture as a PIL image, and ``viewer(session_type, None)`` when the child session
        ends. Called on the SDK's thread. None: the SDK's own floating window (default)."""
        self._video_viewer = viewer

    def _session_windows(self) -> VisitorWindows:
        """The SDK's viewer and gesture windows (started on first use; may raise)."""
        if self._windows is None or self._windows.closed:
            self._windows = VisitorWindows()
        return self._windows

    @property
    def windows(self) -> VisitorWindows | None:
        """The SDK's viewer and gesture windows, once any was shown."""
        return self._windows

    # -- sessions --------------------------------------------------------------------------

    def start_session(self, arg: str | StartParams | None = None) -> None:
        """Start a screen share session.

        No argument: under the visitor ID if ``init`` had one, else a random key; after the
        visitor accepted an agent's one-click request (seed 001) that is the one-click session.
        A string: that key (``coview.RANDOM_KEY`` for a random one). ``StartParams``: all.
        """
        if not self._initialized:
            self._fire(EventCode.INVALID_STATE, "call init before start_session")
            return
        if self._session is not None or self._asking_terms:
            self._fire(EventCode.INVALID_STATE, "a session is already running")
            return
        one_click = arg is None and self._one_click_accepted and bool(self._visitor_id)
        self._one_click_accepted = False
        if one_click:
            params = StartParams(key=self._visitor_id, presence_start=True)
        elif arg is None:
            params = StartParams(key=self._visitor_id or RANDOM_KEY)
        elif isinstance(arg, str):
            params = StartParams(key=arg)
        elif isinstance(arg, StartParams):
            params = arg if arg.key else replace(arg, key=self._visitor_id or RANDOM_KEY)
        else:
            self._fire(EventCode.INVALID_PARAMETER, "start_session takes a key or StartParams")
            return
        problem = _check_params(params)
        if problem:
            self._fire(EventCode.INVALID_PARAMETER, problem)
            return
        if params.key == RANDOM_KEY:
            kind, key = "random", None
        elif params.key == self._visitor_id:
            kind, key = "visitor", params.key
        else:
            kind, key = "named", params.key
        hello: dict[str, Any] = {
            "t": "start", "group_id": self._group_id, "key_kind": kind, "key": key,
            "token": self._token, **self._identity, "max_guests": params.max_guests,
            "persist": params.persist, "paused": params.paused,
            "main_call_id": params.main_call_id, "report_errors": params.report_errors,
            "presence_start": params.presence_start, "client": f"coview-python/{__version__}",
        }
        if not self._use_default_ui or one_click:  # one-click: the terms were just accepted
            self._begin(hello, params)
            return
        # Seed 000: with the default UI, the terms come first; nothing starts without consent.
        try:
            ui = self._default_window()
        except Exception as exc:
            self._fire(EventCode.START_SESSION_FAILED,
                       f"the default UI cannot be shown ({exc}); call default_ui(False) and "
                       "show the terms yourself", error="no_ui")
            return
        self._asking_terms = True

        def accepted() -> None:
            self._asking_terms = False
            self._begin(hello, params)

        def declined() -> None:
            self._asking_terms = False
            self._fire(EventCode.START_SESSION_FAILED, "the visitor declined the terms",
                       error="declined")

        ui.ask_terms(accepted, declined)

    def _default_window(self) -> DefaultUI:
        if self._ui is None:
            self._ui = DefaultUI(self, terms_url=self.terms_url)
        return self._ui

    @property
    def ui(self) -> DefaultUI | None:
        """The SDK's own window, once shown (None with ``default_ui(False)``)."""
        return self._ui

    def _begin(self, hello: dict[str, Any], params: StartParams) -> None:
        share = _Share(self, hello, params)
        self._session = share
        self._runs.append(self._submit(share.run()))

    def end_session(self) -> None:
        """End the session; SESSION_ENDED follows (wait for it before starting another)."""
        share = self._session
        if share is None:
            self._fire(EventCode.INVALID_STATE, "there is no session to end")
            return
        self._submit(share.end())

    def pause(self, paused: bool) -> None:
        """Pause (agents see a white screen with a message; no pixels are sent) or resume."""
        share = self._require_session()
        if share is not None:
            self._submit(share.set_paused(bool(paused)))

    def enable_rc(self, enabled: bool) -> None:
        """Let agents with the remote control privilege control this display, or stop them."""
        share = self._require_session()
        if share is not None:
            if not enabled:
                # A revocation holds from the moment it is made, not from when the SDK's
                # thread gets to it: input already on its way is not applied.
                share.rc_enabled = False
            self._submit(share.set_rc(bool(enabled)))

    def show_display(self, display: DisplayParams) -> None:
        """Switch what is shown, live."""
        share = self._require_session()
        if share is None:
            return
        problem = _check_display(display)
        if problem:
            self._fire(EventCode.INVALID_PARAMETER, problem)
            return
        share.display = display
        share.force_key = True

    def close_child_session(self, session_type: str) -> None:
        """Close the child session of ``session_type`` (e.g. ``"agentVideo"``)."""
        share = self._require_session()
        if share is not None:
            self._submit(share.close_child(session_type))

    def session_info(self) -> SessionInfo:
        """The running session (``call_id`` 0 when none)."""
        share = self._session
        return share.info() if share is not None else SessionInfo()

    def _require_session(self) -> _Share | None:
        if self._session is None:
            self._fire(EventCode.INVALID_STATE, "there is no session")
        return self._session

    def _submit(self, coro: Any) -> Future[Any]:
        return self._background.submit(coro)

    def _session_over(self, share: _Share) -> None:
        if self._session is share:
            self._session = None

    # -- masking ---------------------------------------------------------------------------

    def add_mask(self, rect: tuple[int, int, int, int] | None = None, *,
                 window: WindowRect | None = None, roles: list[str] | None = None) -> int:
        """Never show a rectangle (virtual-screen x, y, width, height) or a window; return
        the mask's id. ``roles``: only for agents of these roles (default: every agent)."""
        if (rect is None) == (window is None):
            raise ValueError("give a rectangle or a window, not both")
        mask_id = next(self._mask_ids)
        self._masks[mask_id] = Mask(mask_id, Rect(*rect) if rect else None, window,
                                    frozenset(roles or ()))
        if self._session is not None:
            self._session.force_key = True
        return mask_id

    def remove_mask(self, mask_id: int) -> None:
        self._masks.pop(mask_id, None)

    def masks(self) -> list[Mask]:
        return list(self._masks.values())

    # -- displays --------------------------------------------------------------------------

    def display_count(self) -> int:
        """Monitors available to show."""
        return len(self._screen.displays())

    def main_monitor(self) -> int:
        """The index of the primary monitor."""
        return 0

    def display_type(self, index: int) -> str:
        """``"Monitor"`` (devices and webcams are not captured on this platform)."""
        self._display(index)
        return "Monitor"

    def display_name(self, index: int) -> str:
        """A name to pass as ``DisplayParams.display_name``."""
        return self._display(index).name

    def identify_monitors(self, seconds: float = 3.0) -> None:
        """Draw each monitor's number on it for a few seconds."""
        identify_monitors(self._screen.displays(), seconds)

    def _display(self, index: int) -> Display:
        displays = self._screen.displays()
        if not 0 <= index < len(displays):
            raise IndexError(f"there are {len(displays)} displays")
        return displays[index]

    def close(self) -> None:
        """End any session and stop the SDK's thread."""
        share = self._session
        if share is not None:
            with contextlib.suppress(Exception):
                self._submit(share.end()).result(timeout=5)
        for run in self._runs:  # let each session close its transport before the loop stops
            with contextlib.suppress(Exception):
                run.result(timeout=10)
        if self._ui is not None:
            self._ui.close()
        if self._windows is not None:
            self._windows.close()
        self._background.stop()


def _check_params(params: StartParams) -> str:
    if params.key != RANDOM_KEY and not rules.is_key(params.key):
        return "the key must be 1 to 50 letters, digits, '_' or '-', or coview.RANDOM_KEY"
    if not 0 <= params.max_guests <= rules.MAX_GUESTS_MAX:
        return f"max_guests must be 0 to {rules.MAX_GUESTS_MAX}"
    if params.main_call_id < 0:
        return "main_call_id must not be negative"
    return _check_display(params.display)


def _check_display(display: DisplayParams) -> str:
    if not 0.05 <= display.scale <= 4:
        return "scale must be 0.05 to 4"
    if display.capture_width < 0 or display.capture_height < 0:
        return "capture_width and capture_height must not be negative"
    if not display.display_name:
        return "display_name must not be empty"
    return ""


class _Share:
    """One running screen share session, on the SDK's loop."""

    def __init__(self, visitor: Visitor, hello: dict[str, Any], params: StartParams) -> None:
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
        self.children: dict[str, ChildView] = {}
        self._child_runs: set[asyncio.Task[None]] = set()
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
            for child in list(self.children.values()):
                await child.close()
            if self._child_runs:
                await asyncio.gather(*self._child_runs, return_exceptions=True)

    def _over(self, reason: SessionEndReason | None) -> None:
        if self.ended:
            return
        self.ended = True
        # Seed 000: SESSION_ENDED means the session and its children have all ended.
        for child in list(self.children.values()):
            if child.joined and not child.ended:
                child.ended = True
                self._present(child.session_type, None)
                self.v._fire(EventCode.CHILD_SESSION_ENDED, sessiontype=child.session_type)
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
            self._over(_reason(event.message))
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
            self._over(_reason(str(h.get("reason"))))
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
            await self._child_message(h)
        elif kind == "gesture":
            await self._gesture(h)

    # -- child sessions --------------------------------------------------------------------

    async def _child_message(self, h: dict[str, Any]) -> None:
        session_type = str(h.get("session_type", ""))
        if h.get("action") == "started" and h.get("join_token"):
            if session_type in self.children:
                return  # replayed after a resume: already joined
            if self.v._video_viewer is None:
                try:
                    await asyncio.get_running_loop().run_in_executor(
                        None, self.v._session_windows)
                except Exception as exc:
                    self.v._fire(EventCode.JOIN_CHILD_SESSION_FAILED,
                                 f"the viewer cannot be shown ({exc}); see set_video_viewer",
                                 sessionkey=str(h.get("key", "")), sessiontype=session_type,
                                 error="no_viewer")
                    return
            child = ChildView(self.v.server, self.v._group_id, h, fire=self.v._fire,
                              present=self._present, on_joined=self._child_joined,
                              on_end=self._child_over, force_tunnel=self.conn.tunneling)
            self.children[session_type] = child
            task = asyncio.create_task(child.run())
            self._child_runs.add(task)
            task.add_done_callback(self._child_runs.discard)
        elif h.get("action") == "ended":
            running = self.children.get(session_type)
            if running is not None:
                await running.close()

    def _present(self, session_type: str, image: Image.Image | None) -> None:
        """Show a child session's picture (None: it is over) where the application wants."""
        viewer = self.v._video_viewer
        if viewer is not None:
            try:
                viewer(session_type, image)
            except Exception:
                log.exception("the application's video viewer failed")
            return
        windows = self.v._windows
        if windows is None:
            return
        if image is None:
            windows.close_viewer(session_type)
        else:
            title = "Agent's screen" if session_type == SHOWBACK else "Agent video"
            windows.show_frame(session_type, title, image)

    async def _child_joined(self, child: ChildView) -> None:
        if child.session_type == SHOWBACK:
            # Seed 000: the agent shows and the visitor views; the visitor stops showing.
            self.viewing = True
            await self.conn.send({"t": "view", "viewing": True}, reliable=True)

    async def _child_over(self, child: ChildView) -> None:
        if self.children.get(child.session_type) is child:
            del self.children[child.session_type]
        if child.session_type == SHOWBACK and self.viewing:
            self.viewing = False
            self.force_key = True
            if not self.ended:
                await self.conn.send({"t": "view", "viewing": False}, reliable=True)

    async def close_child(self, session_type: str) -> None:
        child = self.children.get(session_type)
        if child is None:
            self.v._fire(EventCode.INVALID_STATE, f"there is no {session_type} child session")
            return
        await child.leave()

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

    def _region(self) -> Rect | None:
        """What the current DisplayParams show on the virtual screen (None: not there now)."""
        name = self.display.display_name
        screen = self.v._screen
        if name == "application":
            window = self.v._app_window
            rect = window() if window is not None else None
            return Rect(*rect) if rect else None
        if name == "all":
            return screen.virtual()
        displays = screen.displays()
        if name == "main":
            return displays[0].rect if displays else None
        found = next((d for d in displays if d.name == name), None)
        return found.rect if found else None

    def _mask_rects(self, region: Rect, guests: dict[str, Any]) -> list[Rect]:
        rects = []
        for mask in self.v._masks.values():
            if not mask.applies(guests):
                continue
            rect = mask.rect
            if mask.window is not None:
                found = mask.window()
                rect = Rect(*found) if found else None
            if rect is not None:
                rects.append(Rect(rect.x - region.x, rect.y - region.y, rect.w, rect.h))
        return rects

    def _grab(self, region: Rect, key: bool) -> tuple[Frame, list[Any], int]:
        """Capture, mask and encode (runs in a worker thread); with the version of the
        guests list the masks were chosen for."""
        guests = self.guests
        frame = self.v._screen.grab(region)
        for cover in list(self.covers.values()):  # gestures are never captured back
            gestures.uncover(frame, region, cover)
        black_out(frame, self._mask_rects(region, guests))
        d = self.display
        if d.capture_width and d.capture_height:
            ratio = min(d.capture_width / region.w, d.capture_height / region.h)
            frame = scaled(frame, int(region.w * ratio), int(region.h * ratio))
        elif d.scale != 1.0:
            frame = scaled(frame, int(region.w * d.scale), int(region.h * d.scale))
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
                region = self._region()
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


def _reason(value: str) -> SessionEndReason:
    try:
        return SessionEndReason(value)
    except ValueError:
        return SessionEndReason.ERROR
