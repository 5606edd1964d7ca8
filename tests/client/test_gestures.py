"""Gestures: what an agent may send, where it is drawn, and putting back what it hides."""

from __future__ import annotations

import itertools

import numpy as np

from coview.client.gestures import (
    DOT,
    MAX_POINTS,
    SPOT,
    Cover,
    Gesture,
    bounds,
    gesture_rects,
    parse_gesture,
    uncover,
)
from coview.client.remote_control import Mapping
from coview.client.tiles import Rect


def test_only_well_formed_gestures_are_accepted() -> None:
    assert parse_gesture({"kind": "spot", "points": [[3, 4]]}) == Gesture("spot", ((3, 4),))
    assert parse_gesture({"kind": "line", "points": [[0, 0], [9, 9]]}) is not None
    for bad in ({"kind": "circle", "points": [[1, 1]]}, {"kind": "spot", "points": []},
                {"kind": "spot", "points": [[1]]}, {"kind": "spot", "points": [[-1, 2]]},
                {"kind": "spot", "points": [[1.5, 2]]}, {"kind": "spot", "points": "1,2"},
                {"kind": "line", "points": [[1, 1]] * (MAX_POINTS + 1)}, {}):
        assert parse_gesture(bad) is None, bad


def test_a_spot_is_a_ring_and_a_line_a_chain_of_dots_on_the_screen() -> None:
    # The picture is the display at (100, 50), shrunk to half its size.
    mapping = Mapping(Rect(100, 50, 800, 600), 400, 300)
    ring = gesture_rects(Gesture("spot", ((200, 150),)), mapping)
    assert bounds(ring) == Rect(500 - SPOT // 2, 350 - SPOT // 2, SPOT, SPOT)
    assert len(ring) == 4
    line = gesture_rects(Gesture("line", ((0, 0), (100, 0))), mapping)
    assert bounds(line) == Rect(100 - DOT // 2, 50 - DOT // 2, 200 + DOT, DOT)
    xs = sorted(r.x for r in line)
    assert max(b - a for a, b in itertools.pairwise(xs)) < DOT  # no gaps
    assert gesture_rects(Gesture("spot", ((400, 300),)), mapping) == []  # off the picture


def test_uncover_puts_back_only_the_pixels_under_the_gesture() -> None:
    clean = np.full((20, 20, 4), 7, dtype=np.uint8)
    cover = Cover(Rect(10, 10, 20, 20), clean, (Rect(10, 10, 5, 5), Rect(25, 25, 10, 10)))
    frame = np.full((30, 30, 4), 200, dtype=np.uint8)  # a capture of (5, 5, 30, 30)
    uncover(frame, Rect(5, 5, 30, 30), cover)
    assert (frame[5:10, 5:10] == 7).all()
    assert (frame[20:25, 20:25] == 7).all()  # the second rect, cut to the cover's box
    assert (frame == 7).sum() == (25 + 25) * 4
