"""What the visitor SDK shows and hides: the region of the screen a share shows, and the
masks blacked out of every picture before it leaves the visitor's machine."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from coview.client import gestures
from coview.client.capture import Screen, scaled
from coview.client.events import DisplayParams
from coview.client.tiles import Frame, Rect, black_out

WindowRect = Callable[[], tuple[int, int, int, int] | None]


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


def region_of(display_name: str, screen: Screen, app_window: WindowRect | None) -> Rect | None:
    """What a share of ``display_name`` shows on the virtual screen (None: not there now):
    ``application`` (the window ``app_window`` gives), ``all``, ``main`` or a display's name."""
    if display_name == "application":
        rect = app_window() if app_window is not None else None
        return Rect(*rect) if rect else None
    if display_name == "all":
        return screen.virtual()
    displays = screen.displays()
    if display_name == "main":
        return displays[0].rect if displays else None
    found = next((d for d in displays if d.name == display_name), None)
    return found.rect if found else None


def mask_rects(masks: Iterable[Mask], region: Rect, guests: dict[str, Any]) -> list[Rect]:
    """The masks that apply for these guests, where they are now, relative to ``region``."""
    rects = []
    for mask in masks:
        if not mask.applies(guests):
            continue
        rect = mask.rect
        if mask.window is not None:
            found = mask.window()
            rect = Rect(*found) if found else None
        if rect is not None:
            rects.append(Rect(rect.x - region.x, rect.y - region.y, rect.w, rect.h))
    return rects


def picture(screen: Screen, region: Rect, display: DisplayParams, masks: list[Rect],
            covers: Iterable[gestures.Cover]) -> Frame:
    """What the agents are shown of ``region`` (on a worker thread): grabbed, with the
    gestures drawn over it uncovered (never captured back), ``masks`` blacked out, and scaled
    as ``display`` asks."""
    frame = screen.grab(region)
    for cover in covers:
        gestures.uncover(frame, region, cover)
    black_out(frame, masks)
    if display.capture_width and display.capture_height:
        ratio = min(display.capture_width / region.w, display.capture_height / region.h)
        return scaled(frame, int(region.w * ratio), int(region.h * ratio))
    if display.scale != 1.0:
        return scaled(frame, int(region.w * display.scale), int(region.h * display.scale))
    return frame
