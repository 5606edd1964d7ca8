"""Screen capture with mss: displays, and grabbing what to show as a BGRA array."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import mss
import numpy as np
from PIL import Image

from coview.client.tiles import Frame, Rect


@dataclass(frozen=True, slots=True)
class Display:
    """A monitor: its index, name and place on the virtual screen."""

    index: int
    name: str
    rect: Rect


class Screen:
    """The displays of this machine, and grabs of them (one mss instance per thread)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _mss(self) -> Any:
        grabber = getattr(self._local, "mss", None)
        if grabber is None:
            grabber = mss.MSS()
            self._local.mss = grabber
        return grabber

    def displays(self) -> list[Display]:
        """Every monitor, numbered from 0 (mss's monitor 0 is the whole virtual screen)."""
        monitors = self._mss().monitors[1:]
        return [Display(i, f"Monitor {i + 1}",
                        Rect(m["left"], m["top"], m["width"], m["height"]))
                for i, m in enumerate(monitors)]

    def virtual(self) -> Rect:
        m = self._mss().monitors[0]
        return Rect(m["left"], m["top"], m["width"], m["height"])

    def grab(self, rect: Rect) -> Frame:
        """The pixels of ``rect`` (virtual-screen coordinates) as a writable BGRA array."""
        shot = self._mss().grab({"left": rect.x, "top": rect.y, "width": rect.w,
                                 "height": rect.h})
        frame: Frame = np.frombuffer(bytearray(shot.raw), dtype=np.uint8).reshape(
            shot.height, shot.width, 4)
        return frame

    def close(self) -> None:
        grabber = getattr(self._local, "mss", None)
        if grabber is not None:
            grabber.close()
            self._local.mss = None


def scaled(frame: Frame, width: int, height: int) -> Frame:
    """``frame`` resized to ``width`` x ``height``.

    The channel order does not matter to a resize, but the fourth byte must be padding
    ("RGBX"): read as alpha, X11's zero alpha would premultiply every pixel to black.
    """
    if (frame.shape[1], frame.shape[0]) == (width, height):
        return frame
    image = Image.frombuffer("RGBX", (frame.shape[1], frame.shape[0]), frame.tobytes(),
                             "raw", "RGBX", 0, 1)
    resized = image.resize((max(1, width), max(1, height)), Image.Resampling.BILINEAR)
    out: Frame = np.array(resized, dtype=np.uint8)
    return out
