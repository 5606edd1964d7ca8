"""Remote control on X11: an agent's pointer and keys, replayed through the XTEST extension.

Input arrives in the coordinates of the picture the agent sees; the SDK maps it back to the
virtual screen. It is applied only while the visitor has enabled remote control, and never in
a masked region (a masked window cannot be clicked from afar). A button the agent pressed is
never left held: its release is applied where the pointer last was, even when the agent lets
go inside a mask or outside the picture, and every held button is released when control ends.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from coview.client.tiles import Rect

BUTTONS = {"left": 1, "middle": 2, "right": 3, "wheel_up": 4, "wheel_down": 5}


@dataclass(frozen=True, slots=True)
class Mapping:
    """How the picture maps onto the screen: its region there, and its scale."""

    region: Rect
    width: int
    height: int

    def to_screen(self, x: float, y: float) -> tuple[int, int] | None:
        if not (0 <= x < self.width and 0 <= y < self.height):
            return None
        return (self.region.x + int(x * self.region.w / self.width),
                self.region.y + int(y * self.region.h / self.height))


class X11Input:
    """Fakes pointer and keyboard input on the X display named by ``DISPLAY``."""

    def __init__(self) -> None:
        self._display: Any = None
        self._lock = threading.Lock()
        self._held: set[int] = set()  # buttons pressed by the agent and not released yet

    def _x(self) -> Any:
        if self._display is None:
            from Xlib import display as xdisplay

            self._display = xdisplay.Display()
            if not self._display.has_extension("XTEST"):
                raise RuntimeError("the X server has no XTEST extension")
        return self._display

    def apply(self, action: str, mapping: Mapping, masks: list[Rect],
              fields: dict[str, Any]) -> bool:
        """Apply one input action; return False if it was outside the picture or masked."""
        from Xlib import X
        from Xlib.ext import xtest

        with self._lock:
            d = self._x()
            if action == "key":
                keysym = str(fields.get("keysym", ""))[:32]
                code = d.keysym_to_keycode(_keysym(keysym))
                if not code:
                    return False
                xtest.fake_input(d, X.KeyPress, code)
                xtest.fake_input(d, X.KeyRelease, code)
                d.sync()
                return True
            button = BUTTONS.get(str(fields.get("button", "left")), 1)
            point = mapping.to_screen(float(fields.get("x", -1)), float(fields.get("y", -1)))
            if point is None or any(_inside(point, m) for m in masks):
                if action == "up" and button in self._held:
                    self._release(d, button)  # where the pointer is: outside every mask
                return False
            xtest.fake_input(d, X.MotionNotify, x=point[0], y=point[1])
            if action == "down":
                xtest.fake_input(d, X.ButtonPress, button)
                self._held.add(button)
            elif action == "up":
                self._release(d, button)
            elif action == "click":
                xtest.fake_input(d, X.ButtonPress, button)
                xtest.fake_input(d, X.ButtonRelease, button)
            d.sync()
            return True

    def _release(self, d: Any, button: int) -> None:
        from Xlib import X
        from Xlib.ext import xtest

        xtest.fake_input(d, X.ButtonRelease, button)
        self._held.discard(button)
        d.sync()

    def release_all(self) -> None:
        """Release every button the agent holds (control is ending), where the pointer is."""
        with self._lock:
            if self._display is not None:
                for button in sorted(self._held):
                    self._release(self._display, button)
            self._held.clear()

    def close(self) -> None:
        self.release_all()
        with self._lock:
            if self._display is not None:
                self._display.close()
                self._display = None


def _inside(point: tuple[int, int], rect: Rect) -> bool:
    return rect.x <= point[0] < rect.x + rect.w and rect.y <= point[1] < rect.y + rect.h


def _keysym(name: str) -> int:
    from Xlib import XK

    if len(name) == 1:
        return int(XK.string_to_keysym(name) or ord(name))
    return int(XK.string_to_keysym(name))
