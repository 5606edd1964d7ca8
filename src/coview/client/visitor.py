"""``coview.Visitor``: the screen share visitor SDK (seed 000).

The SDK runs its network and capture on a background thread with an asyncio loop; public
methods return at once and report through events, which listeners receive on that thread.
``wait_for`` lets scripts and tests wait for an event.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

from coview._version import __version__
from coview.client.capture import Display, Screen
from coview.client.events import (
    RANDOM_KEY,
    DisplayParams,
    Event,
    EventCode,
    SessionInfo,
    StartParams,
    check_display,
    check_params,
)
from coview.client.loop import BackgroundLoop
from coview.client.masks import Mask, WindowRect
from coview.client.share import Share
from coview.client.share_children import VideoViewer
from coview.client.tiles import Rect
from coview.client.ui import DEFAULT_TERMS_URL, DefaultUI, identify_monitors
from coview.client.windows import VisitorWindows
from coview.protocol import rules

log = logging.getLogger("coview.visitor")

Listener = Callable[[Event], None]

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
        self._session: Share | None = None
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
        problem = check_params(params)
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
        share = Share(self, hello, params)
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
        problem = check_display(display)
        if problem:
            self._fire(EventCode.INVALID_PARAMETER, problem)
            return
        share.display = display
        share.force_key = True

    def close_child_session(self, session_type: str) -> None:
        """Close the child session of ``session_type`` (e.g. ``"agentVideo"``)."""
        share = self._require_session()
        if share is not None:
            self._submit(share.children.leave(session_type))

    def session_info(self) -> SessionInfo:
        """The running session (``call_id`` 0 when none)."""
        share = self._session
        return share.info() if share is not None else SessionInfo()

    def _require_session(self) -> Share | None:
        if self._session is None:
            self._fire(EventCode.INVALID_STATE, "there is no session")
        return self._session

    def _submit(self, coro: Any) -> Future[Any]:
        return self._background.submit(coro)

    def _session_over(self, share: Share) -> None:
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
