"""The SDK's windows during a session (Tk, on a thread of their own): the viewer of a child
session (agent video, showback) and the overlay that draws agents' gestures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PIL import Image

from coview.client import gestures
from coview.client.tiles import Rect
from coview.client.tkthread import TkThread

if TYPE_CHECKING:
    import tkinter as tk

VIDEO_BOX = (480, 360)  # an agent video viewer's largest picture
SHOWBACK_SHARE = 0.8  # a showback viewer's largest share of the screen


class VisitorWindows(TkThread):
    """Viewer windows by child session type, and gesture overlays by id."""

    def __init__(self) -> None:
        self._viewers: dict[str, tuple[Any, Any]] = {}  # type -> (Toplevel, Label)
        self._photos: dict[str, Any] = {}
        self._overlays: dict[int, list[Any]] = {}
        super().__init__("coview-windows")

    def teardown(self) -> None:
        self._viewers.clear()
        self._photos.clear()
        self._overlays.clear()

    # -- child session viewers ---------------------------------------------------------------

    def show_frame(self, session_type: str, title: str, image: Image.Image) -> None:
        """Show a child session's latest picture (opening its viewer the first time)."""
        self.call(lambda: self._show_frame(session_type, title, image))

    def _show_frame(self, session_type: str, title: str, image: Image.Image) -> None:
        import tkinter as tk

        from PIL import ImageTk

        viewer = self._viewers.get(session_type)
        if viewer is None:
            top = tk.Toplevel(self.root)
            top.title(title)
            top.geometry("+60+60")
            top.protocol("WM_DELETE_WINDOW", lambda: None)  # the SDK decides when it closes
            label = tk.Label(top, borderwidth=0, background="black")
            label.pack()
            viewer = self._viewers[session_type] = (top, label)
        top, label = viewer
        if session_type == "showback":
            box = (int(self.root.winfo_screenwidth() * SHOWBACK_SHARE),
                   int(self.root.winfo_screenheight() * SHOWBACK_SHARE))
        else:
            box = VIDEO_BOX
        fitted = image.copy()
        fitted.thumbnail(box)
        photo = ImageTk.PhotoImage(fitted, master=self.root)
        label.configure(image=photo)
        self._photos[session_type] = photo  # Tk keeps no reference of its own

    def close_viewer(self, session_type: str) -> None:
        def close() -> None:
            viewer = self._viewers.pop(session_type, None)
            self._photos.pop(session_type, None)
            if viewer is not None:
                viewer[0].destroy()
        self.call(close)

    def viewer_rect(self, session_type: str) -> Rect | None:
        """Where a viewer's picture is on the screen (None: not open)."""
        def read() -> Rect | None:
            viewer = self._viewers.get(session_type)
            if viewer is None:
                return None
            label = viewer[1]
            self.root.update_idletasks()
            return Rect(label.winfo_rootx(), label.winfo_rooty(), label.winfo_width(),
                        label.winfo_height())
        return self.call_wait(read)

    # -- gestures ---------------------------------------------------------------------------

    def show_gesture(self, gesture_id: int, rects: list[Rect],
                     on_gone: Callable[[int], None]) -> None:
        """Draw a gesture for ``gestures.SECONDS``, then call ``on_gone(gesture_id)`` once its
        windows are off the screen."""
        self.call(lambda: self._show_gesture(gesture_id, rects, on_gone))

    def _show_gesture(self, gesture_id: int, rects: list[Rect],
                      on_gone: Callable[[int], None]) -> None:
        import tkinter as tk

        windows: list[tk.Toplevel] = []
        for r in rects:
            window = tk.Toplevel(self.root, background=gestures.COLOR, borderwidth=0,
                                 highlightthickness=0)
            window.overrideredirect(True)
            window.geometry(f"{r.w}x{r.h}+{r.x}+{r.y}")
            window.attributes("-topmost", True)
            windows.append(window)
        self._overlays[gesture_id] = windows

        def remove() -> None:
            for window in self._overlays.pop(gesture_id, []):
                window.destroy()
            self.root.update()  # the windows are gone from the server before on_gone
            on_gone(gesture_id)

        self.root.after(int(gestures.SECONDS * 1000), remove)
