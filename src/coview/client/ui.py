"""The SDK's own windows (Tk, on a thread of their own): the default session window and the
monitor numbers.

Unless the application calls ``default_ui(False)``, the visitor sees a small window: the terms
(with their link) to accept or decline before a session starts, then the session key to read to
the agent (not in a one-click session), the agents present, pause/resume and end buttons, and a
prompt when an agent asks for remote control.
"""

from __future__ import annotations

import gc
import threading
import webbrowser
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from coview.client.capture import Display
from coview.client.events import Event, EventCode, SessionInfo
from coview.client.tkthread import TkThread

if TYPE_CHECKING:
    import tkinter as tk


class SessionControls(Protocol):
    """What the window drives: the visitor's public methods (``coview.Visitor`` has them)."""

    def add_listener(self, listener: Callable[[Event], None]) -> None: ...
    def remove_listener(self, listener: Callable[[Event], None]) -> None: ...
    def session_info(self) -> SessionInfo: ...
    def enable_rc(self, enabled: bool) -> None: ...
    def pause(self, paused: bool) -> None: ...
    def end_session(self) -> None: ...

DEFAULT_TERMS_URL = "https://www.coview.example/terms"


def identify_monitors(displays: Sequence[Display], seconds: float) -> None:
    """Show each monitor's number, large, in a borderless window on it, for ``seconds``."""

    def run() -> None:
        show()
        # Tk widgets form reference cycles; collect them here, on the thread that made them,
        # before a garbage collection on another thread frees them (Tcl aborts on that).
        gc.collect()

    def show() -> None:
        import tkinter as tk

        root = tk.Tk()
        root.withdraw()
        for display in displays:
            window = tk.Toplevel(root)
            window.overrideredirect(True)
            size = 220
            x = display.rect.x + (display.rect.w - size) // 2
            y = display.rect.y + (display.rect.h - size) // 2
            window.geometry(f"{size}x{size}+{x}+{y}")
            window.configure(background="#1d2330")
            tk.Label(window, text=str(display.index + 1), fg="white", bg="#1d2330",
                     font=("Helvetica", 140, "bold")).pack(expand=True)
        root.after(int(seconds * 1000), root.destroy)
        root.mainloop()

    threading.Thread(target=run, name="coview-identify", daemon=True).start()


class DefaultUI(TkThread):
    """The session window; every Tk call runs on its own thread."""

    def __init__(self, visitor: SessionControls, *, terms_url: str = DEFAULT_TERMS_URL) -> None:
        self.visitor = visitor
        self.terms_url = terms_url
        self._widgets: dict[str, Any] = {}
        super().__init__("coview-ui")
        visitor.add_listener(self._on_event)

    # -- the Tk thread ---------------------------------------------------------------------

    def setup(self, root: tk.Tk) -> None:
        import tkinter as tk

        root.title("Coview screen share")
        root.geometry("+40+40")
        root.resizable(False, False)
        root.attributes("-topmost", True)
        root.protocol("WM_DELETE_WINDOW", self._end_clicked)
        frame = tk.Frame(root, padx=14, pady=12)
        frame.pack()
        w = self._widgets
        w["title"] = tk.Label(frame, text="", font=("Helvetica", 12, "bold"))
        w["text"] = tk.Label(frame, text="", wraplength=300, justify="left")
        w["link"] = tk.Label(frame, text=self.terms_url, fg="#2d5be3", cursor="hand2")
        w["link"].bind("<Button-1>", lambda _event: webbrowser.open(self.terms_url))
        w["key"] = tk.Label(frame, text="", font=("Helvetica", 22, "bold"))
        w["agents"] = tk.Label(frame, text="")
        buttons = tk.Frame(frame)
        w["accept"] = tk.Button(buttons, text="Accept")
        w["decline"] = tk.Button(buttons, text="Decline")
        w["pause"] = tk.Button(buttons, text="Pause", command=self._pause_clicked)
        w["end"] = tk.Button(buttons, text="End session", command=self._end_clicked)
        w["allow"] = tk.Button(buttons, text="Allow control")
        w["deny"] = tk.Button(buttons, text="Deny")
        self._frame, self._buttons = frame, buttons

    def teardown(self) -> None:
        self._widgets.clear()
        del self._frame, self._buttons

    def _layout(self, title: str, text: str, shown: Sequence[str], buttons: Sequence[str]) -> None:
        w = self._widgets
        for widget in w.values():
            widget.pack_forget()
        self._buttons.pack_forget()
        w["title"].configure(text=title)
        w["text"].configure(text=text)
        for name in ("title", "text", *shown):
            w[name].pack(anchor="w", pady=2)
        self._buttons.pack(anchor="w", pady=(8, 0))
        for name in buttons:
            w[name].pack(side="left", padx=(0, 6))
        self.root.deiconify()
        self.root.lift()

    # -- what the SDK asks ------------------------------------------------------------------

    def ask_terms(self, on_accept: Callable[[], None], on_decline: Callable[[], None]) -> None:
        """Show the terms; call one of the callbacks when the visitor answers."""
        def show() -> None:
            self._widgets["accept"].configure(command=lambda: self._answer(on_accept))
            self._widgets["decline"].configure(command=lambda: self._answer(on_decline,
                                                                           hide=True))
            self._layout("Share your screen?",
                         "An agent will see your screen. You can pause or end the session "
                         "at any time. Terms and conditions:",
                         ["link"], ["accept", "decline"])
        self.call(show)

    def _answer(self, callback: Callable[[], None], *, hide: bool = False) -> None:
        if hide:
            self.root.withdraw()
        else:
            self._layout("Starting…", "Connecting to the support service.", [], [])
        callback()

    def _on_event(self, event: Event) -> None:
        code = event.code
        if code is EventCode.CONNECTED_TO_SESSION:
            key = event.properties.get("sessionkey", "")
            one_click = self.visitor.session_info().presence_start
            self.call(lambda: self._in_session(key, one_click))
        elif code is EventCode.GUEST_COUNT_CHANGE:
            count = int(event.properties.get("count", "0"))
            self.call(lambda: self._widgets["agents"].configure(
                text=f"Agents watching: {count}"))
        elif code is EventCode.MESSAGE_RECEIVED and \
                event.properties.get("coview") == "rc_request":
            agent = event.properties.get("agent", "An agent")
            self.call(lambda: self._ask_control(agent))
        elif code in (EventCode.SESSION_ENDED, EventCode.START_SESSION_FAILED):
            self.call(lambda: self.root.withdraw())

    def _in_session(self, key: str, one_click: bool) -> None:
        self._widgets["key"].configure(text="" if one_click else key)
        self._widgets["pause"].configure(text="Pause")
        self._layout("Sharing your screen",
                     "Read this key to the agent:" if not one_click else
                     "The agent is joining.", ["agents"] if one_click else ["key", "agents"],
                     ["pause", "end"])

    def _ask_control(self, agent: str) -> None:
        def answer(allow: bool) -> None:
            self.visitor.enable_rc(allow)
            self._in_session(self._widgets["key"].cget("text"), False)
        self._widgets["allow"].configure(command=lambda: answer(True))
        self._widgets["deny"].configure(command=lambda: answer(False))
        self._layout("Remote control", f"{agent} asks to control your screen.",
                     ["key", "agents"], ["allow", "deny", "pause", "end"])

    def _pause_clicked(self) -> None:
        paused = not self.visitor.session_info().is_paused
        self.visitor.pause(paused)
        self._widgets["pause"].configure(text="Resume" if paused else "Pause")

    def _end_clicked(self) -> None:
        if self.visitor.session_info().call_id:
            self.visitor.end_session()
        self.root.withdraw()

    # -- for tests and embedding ------------------------------------------------------------

    def widget(self, name: str) -> dict[str, Any]:
        """A widget's text, whether it is shown, and its centre on the screen."""
        def read() -> dict[str, Any]:
            widget = self._widgets[name]
            self.root.update_idletasks()
            return {"text": str(widget.cget("text")), "shown": bool(widget.winfo_ismapped()),
                    "x": widget.winfo_rootx() + widget.winfo_width() // 2,
                    "y": widget.winfo_rooty() + widget.winfo_height() // 2}
        return self.call_wait(read)

    def close(self) -> None:
        self.visitor.remove_listener(self._on_event)
        super().close()
