"""Turn captured frames into what changed: dirty tiles merged into rectangles, as JPEG.

Frames are BGRA arrays straight from the capture buffer (no colour conversion: the JPEG
encoder reads BGRA). A frame is compared with the previous one in 64-pixel tiles; changed
tiles in a row merge into strips, and equal strips in consecutive rows into rectangles, each
encoded once. A key frame is the whole picture in one JPEG.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import simplejpeg

TILE = 64
Frame = npt.NDArray[np.uint8]  # (height, width, 4) BGRA


@dataclass(frozen=True, slots=True)
class Rect:
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True, slots=True)
class EncodedTile:
    rect: Rect
    jpeg: bytes
    key: bool = False


def black_out(frame: Frame, rects: list[Rect]) -> None:
    """Paint ``rects`` black in place: masked pixels never reach the encoder."""
    height, width = frame.shape[:2]
    for r in rects:
        x0, y0 = max(0, r.x), max(0, r.y)
        x1, y1 = min(width, r.x + r.w), min(height, r.y + r.h)
        if x0 < x1 and y0 < y1:
            frame[y0:y1, x0:x1, :3] = 0
            frame[y0:y1, x0:x1, 3] = 255


def dirty_tiles(frame: Frame, previous: Frame,
                scratch: npt.NDArray[np.bool_] | None = None) -> npt.NDArray[np.bool_]:
    """A (rows, columns) map of the tiles that differ between two frames of one size.

    ``scratch``: a reusable all-False buffer from ``dirty_scratch`` (comparing into it spares
    allocating frame-sized arrays each time). Pixels are compared two at a time (as 64-bit
    words, when the width is even), and each tile's column of flags is folded 8 at a time.
    """
    height, width = frame.shape[:2]
    rows, cols = -(-height // TILE), -(-width // TILE)
    if width % 2:
        padded = np.zeros((rows * TILE, cols * TILE), dtype=bool)
        np.not_equal(frame.view(np.uint32)[..., 0], previous.view(np.uint32)[..., 0],
                     out=padded[:height, :width])
        return np.asarray(padded.reshape(rows, TILE, cols, TILE).any(axis=(1, 3)))
    flags = scratch if scratch is not None else dirty_scratch(width, height)
    np.not_equal(frame.reshape(height, -1).view(np.uint64),
                 previous.reshape(height, -1).view(np.uint64), out=flags[:height, :width // 2])
    # Each tile is 32 pairs wide: 4 words of 8 flags; OR the tile's rows, then its words.
    words = np.bitwise_or.reduce(flags.view(np.uint64).reshape(rows, TILE, cols * 4), axis=1)
    return np.asarray(words.reshape(rows, cols, 4).any(axis=2))


def dirty_scratch(width: int, height: int) -> npt.NDArray[np.bool_]:
    """The comparison buffer ``dirty_tiles`` reuses for frames of this size."""
    rows, cols = -(-height // TILE), -(-width // TILE)
    return np.zeros((rows * TILE, cols * TILE // 2), dtype=bool)


def merge_rects(dirty: npt.NDArray[np.bool_], width: int, height: int) -> list[Rect]:
    """Rectangles covering the dirty tiles: row runs, then equal runs stacked down."""
    open_runs: dict[tuple[int, int], list[int]] = {}  # (c0, c1) -> [row0, row1]
    done: list[tuple[int, int, int, int]] = []
    for row in range(dirty.shape[0]):
        runs: list[tuple[int, int]] = []
        cols = np.flatnonzero(dirty[row])
        if cols.size:
            start = prev = int(cols[0])
            for c in cols[1:]:
                c = int(c)
                if c != prev + 1:
                    runs.append((start, prev))
                    start = c
                prev = c
            runs.append((start, prev))
        for span in list(open_runs):
            if span not in runs:
                r0, r1 = open_runs.pop(span)
                done.append((span[0], span[1], r0, r1))
        for span in runs:
            if span in open_runs:
                open_runs[span][1] = row
            else:
                open_runs[span] = [row, row]
    done.extend((c0, c1, r0, r1) for (c0, c1), (r0, r1) in open_runs.items())
    rects = []
    for c0, c1, r0, r1 in done:
        x, y = c0 * TILE, r0 * TILE
        rects.append(Rect(x, y, min(width, (c1 + 1) * TILE) - x, min(height, (r1 + 1) * TILE) - y))
    return rects


def encode(frame: Frame, rect: Rect, quality: int) -> bytes:
    region = frame[rect.y:rect.y + rect.h, rect.x:rect.x + rect.w]
    if not region.flags.c_contiguous:
        region = np.ascontiguousarray(region)
    data: bytes = simplejpeg.encode_jpeg(region, quality=quality, colorspace="BGRA",
                                         colorsubsampling="420", fastdct=True)
    return data


class TileEncoder:
    """Remembers the last frame sent and encodes only what changed since."""

    def __init__(self, *, quality: int = 70) -> None:
        self.quality = quality
        self._previous: Frame | None = None
        self._scratch: npt.NDArray[np.bool_] | None = None

    def reset(self) -> None:
        """Forget the last frame: the next one is a key frame."""
        self._previous = None

    def encode(self, frame: Frame, *, key: bool = False) -> list[EncodedTile]:
        """Encode ``frame``: the whole of it if ``key`` or the size changed, else what changed."""
        height, width = frame.shape[:2]
        previous = self._previous
        if key or previous is None or previous.shape != frame.shape:
            self._previous = frame.copy()
            self._scratch = dirty_scratch(width, height)
            return [EncodedTile(Rect(0, 0, width, height),
                                encode(frame, Rect(0, 0, width, height), self.quality), True)]
        rects = merge_rects(dirty_tiles(frame, previous, self._scratch), width, height)
        tiles = [EncodedTile(r, encode(frame, r, self.quality)) for r in rects]
        for r in rects:
            previous[r.y:r.y + r.h, r.x:r.x + r.w] = frame[r.y:r.y + r.h, r.x:r.x + r.w]
        return tiles
