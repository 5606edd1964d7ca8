"""Agents' gestures on the visitor's screen: checking them, and their shape as rectangles.

An agent draws in the coordinates of the picture it sees: a ``spot`` (a ring around one
point) or a ``line`` (a stroke through up to ``MAX_POINTS`` points). The SDK draws each as a
handful of small borderless windows (plain X11 has no transparent windows without a
compositor), so its shape is a list of screen rectangles; the capture puts back what was under
them, so an overlay is never captured and sent back to the agents.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from coview.client.remote_control import Mapping
from coview.client.tiles import Frame, Rect

COLOR = "#ff2bd6"
SECONDS = 3.0
MAX_POINTS = 200
MAX_RECTS = 400
DOT = 6  # the stroke's width on the screen
SPOT = 44  # the ring's outer size on the screen
KINDS = ("spot", "line")


@dataclass(frozen=True, slots=True)
class Gesture:
    kind: str
    points: tuple[tuple[int, int], ...]


def parse_gesture(header: dict[str, Any]) -> Gesture | None:
    """A gesture from an agent's message, or None if it is not a valid one."""
    kind, raw = header.get("kind"), header.get("points")
    if kind not in KINDS or not isinstance(raw, list) or not 1 <= len(raw) <= MAX_POINTS:
        return None
    points = []
    for point in raw:
        if (not isinstance(point, list) or len(point) != 2
                or not all(isinstance(c, int) and 0 <= c <= 65_535 for c in point)):
            return None
        points.append((point[0], point[1]))
    return Gesture(str(kind), tuple(points))


def gesture_rects(gesture: Gesture, mapping: Mapping) -> list[Rect]:
    """Where the gesture is drawn on the virtual screen (points off the picture dropped)."""
    on_screen = [p for p in (mapping.to_screen(x, y) for x, y in gesture.points)
                 if p is not None]
    if not on_screen:
        return []
    if gesture.kind == "spot":
        x, y = on_screen[0]
        half, edge = SPOT // 2, DOT
        left, top = x - half, y - half
        return [Rect(left, top, SPOT, edge), Rect(left, top + SPOT - edge, SPOT, edge),
                Rect(left, top + edge, edge, SPOT - 2 * edge),
                Rect(left + SPOT - edge, top + edge, edge, SPOT - 2 * edge)]
    rects: list[Rect] = []
    seen: set[tuple[int, int]] = set()
    previous = on_screen[0]
    for point in on_screen:
        steps = max(1, math.ceil(math.dist(previous, point) / (DOT - 2)))
        for i in range(steps + 1):
            x = round(previous[0] + (point[0] - previous[0]) * i / steps)
            y = round(previous[1] + (point[1] - previous[1]) * i / steps)
            cell = (x // 2, y // 2)  # skip dots that would land on top of the last one
            if cell in seen:
                continue
            seen.add(cell)
            rects.append(Rect(x - DOT // 2, y - DOT // 2, DOT, DOT))
            if len(rects) >= MAX_RECTS:
                return rects
        previous = point
    return rects


def bounds(rects: list[Rect]) -> Rect | None:
    """The smallest rectangle holding all of ``rects``."""
    if not rects:
        return None
    x0, y0 = min(r.x for r in rects), min(r.y for r in rects)
    x1, y1 = max(r.x + r.w for r in rects), max(r.y + r.h for r in rects)
    return Rect(x0, y0, x1 - x0, y1 - y0)


@dataclass(frozen=True, slots=True)
class Cover:
    """A gesture on the screen, and what its box showed before it was drawn."""

    box: Rect
    pixels: Frame
    rects: tuple[Rect, ...]


def uncover(frame: Frame, region: Rect, cover: Cover) -> None:
    """Put back, in a frame captured of ``region``, the pixels a gesture's windows hide."""
    height, width = frame.shape[:2]
    for r in cover.rects:
        x0, y0 = max(r.x, region.x, cover.box.x), max(r.y, region.y, cover.box.y)
        x1 = min(r.x + r.w, region.x + width, cover.box.x + cover.box.w)
        y1 = min(r.y + r.h, region.y + height, cover.box.y + cover.box.h)
        if x0 >= x1 or y0 >= y1:
            continue
        frame[y0 - region.y:y1 - region.y, x0 - region.x:x1 - region.x] = cover.pixels[
            y0 - cover.box.y:y1 - cover.box.y, x0 - cover.box.x:x1 - cover.box.x]
