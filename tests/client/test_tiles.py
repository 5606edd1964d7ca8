"""The frame pipeline: what changed, as few rectangles, encoded from BGRA; masks black."""

from __future__ import annotations

import numpy as np
import simplejpeg

from coview.client.tiles import TILE, Rect, TileEncoder, black_out, dirty_tiles, merge_rects


def frame(width: int = 300, height: int = 200) -> np.ndarray:
    rng = np.random.default_rng(1)
    data = rng.integers(0, 255, (height, width, 4), dtype=np.uint8)
    data[..., 3] = 255
    return data


def test_dirty_tiles_find_changes_at_edges() -> None:
    """A change in a partial edge tile marks that tile only."""
    a = frame()
    b = a.copy()
    b[199, 299, 0] ^= 0xFF
    dirty = dirty_tiles(b, a)
    assert dirty.shape == (4, 5)
    assert dirty.sum() == 1
    assert dirty[3, 4]


def test_dirty_tiles_agree_with_a_pixel_by_pixel_comparison() -> None:
    """Even widths (compared two pixels at a time) and odd ones give the same map as
    comparing every pixel of every tile; a change in any byte, alpha included, counts."""
    rng = np.random.default_rng(5)
    for width, height in ((300, 200), (301, 130), (64, 64), (130, 1)):
        a = frame(width, height)
        for _ in range(20):
            b = a.copy()
            for _ in range(int(rng.integers(1, 6))):
                y, x, c = (int(rng.integers(0, n)) for n in (height, width, 4))
                b[y, x, c] ^= 0x01
            expected = np.zeros((-(-height // TILE), -(-width // TILE)), dtype=bool)
            for y, x in zip(*np.nonzero((a != b).any(axis=2)), strict=True):
                expected[y // TILE, x // TILE] = True
            assert (dirty_tiles(b, a) == expected).all()


def test_merge_makes_rectangles() -> None:
    """Adjacent dirty tiles merge into strips, and equal strips stack into a rectangle."""
    dirty = np.zeros((4, 5), dtype=bool)
    dirty[1:3, 1:3] = True
    dirty[0, 4] = True
    rects = sorted(merge_rects(dirty, 300, 200), key=lambda r: (r.y, r.x))
    assert rects == [Rect(4 * TILE, 0, 300 - 4 * TILE, TILE), Rect(TILE, TILE, 2 * TILE, 2 * TILE)]


def test_key_frame_then_only_changes_decode_to_the_picture() -> None:
    """Decoding the key frame and then each change gives the latest picture (within JPEG loss)."""
    encoder = TileEncoder(quality=95)
    a = np.full((200, 300, 4), 200, dtype=np.uint8)
    [key] = encoder.encode(a)
    assert key.key
    assert key.rect == Rect(0, 0, 300, 200)
    canvas = simplejpeg.decode_jpeg(key.jpeg, colorspace="BGRA").copy()
    b = a.copy()
    b[70:90, 130:170, :3] = 10
    tiles = encoder.encode(b)
    assert tiles
    assert all(not t.key for t in tiles)
    assert sum(t.rect.w * t.rect.h for t in tiles) <= 2 * TILE * TILE
    for t in tiles:
        canvas[t.rect.y:t.rect.y + t.rect.h, t.rect.x:t.rect.x + t.rect.w] = \
            simplejpeg.decode_jpeg(t.jpeg, colorspace="BGRA")
    assert np.abs(canvas.astype(int) - b.astype(int))[..., :3].mean() < 3
    assert encoder.encode(b) == []  # nothing changed: nothing sent


def test_black_out_clips_to_the_frame() -> None:
    """Masked rectangles become black, clipped to the frame, and nothing else changes."""
    a = np.full((100, 100, 4), 255, dtype=np.uint8)
    black_out(a, [Rect(90, 90, 50, 50), Rect(-10, -10, 20, 20)])
    assert (a[90:, 90:, :3] == 0).all()
    assert (a[:10, :10, :3] == 0).all()
    assert (a[20:80, 20:80] == 255).all()
