"""A picture rebuilt from a session's ``display`` messages and ``tile`` frames.

The agent client keeps the visitor's screen in one; the visitor's SDK keeps a child session's
picture (agent video, showback) in another.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import simplejpeg
from PIL import Image

MAX_SIDE = 16384


class Canvas:
    """The latest picture: BGRA pixels, white until the first key frame."""

    def __init__(self) -> None:
        self.display: dict[str, Any] = {}
        self.tiles_applied = 0
        self._pixels: np.ndarray[Any, np.dtype[np.uint8]] | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the picture as last announced."""
        return int(self.display.get("width") or 0), int(self.display.get("height") or 0)

    @property
    def has_picture(self) -> bool:
        return self._pixels is not None

    def set_display(self, display: dict[str, Any]) -> None:
        """A new picture size or display: forget the old pixels if the size changed."""
        width, height = int(display.get("width") or 0), int(display.get("height") or 0)
        if not (0 <= width <= MAX_SIDE and 0 <= height <= MAX_SIDE):
            return
        if (width, height) != self.size:
            self._pixels = None
        self.display = dict(display)

    def apply_tile(self, header: dict[str, Any], jpeg: bytes) -> bool:
        """Draw one tile; return False if it does not belong to the current picture."""
        if header.get("e") != self.display.get("e"):
            return False  # a tile of a picture that has since changed size or display
        width, height = self.size
        try:
            x, y, w, h = (int(header.get(k, 0)) for k in ("x", "y", "w", "h"))
        except (TypeError, ValueError):
            return False
        if not (x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= width
                and y + h <= height):
            return False
        if self._pixels is None:
            if not header.get("key"):
                return False  # wait for a key frame
            self._pixels = np.full((height, width, 4), 255, dtype=np.uint8)
        try:
            pixels = simplejpeg.decode_jpeg(jpeg, colorspace="BGRA")
        except ValueError:
            return False
        if pixels.shape[:2] != (h, w):
            return False
        self._pixels[y:y + h, x:x + w] = pixels
        self.tiles_applied += 1
        return True

    def image(self) -> Image.Image:
        """The picture as an RGB image (white before the first key frame)."""
        if self._pixels is None:
            width, height = self.size
            return Image.new("RGB", (max(1, width), max(1, height)), "white")
        return Image.fromarray(self._pixels[..., 2::-1].copy(), "RGB")
