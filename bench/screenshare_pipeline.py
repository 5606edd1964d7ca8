"""Screen share pipeline benchmark: Coview's dirty-tile pipeline against full-frame JPEG.

Replays a scripted 1920x1080 trace (typing, cursor, scrolling, a window moving) through
``coview.client.tiles.TileEncoder`` and, in the same run and on the same frames, through a
plain JPEG of every whole frame at the same quality. Prints bytes, CPU ms per frame and frames
per second for each scenario and the whole trace, as the median of interleaved runs.

    python bench/screenshare_pipeline.py [--frames 60] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator

import numpy as np
import simplejpeg

from coview.client.tiles import TileEncoder

WIDTH, HEIGHT, QUALITY = 1920, 1080, 70
Frame = np.ndarray


def desktop(seed: int = 7) -> Frame:
    """A desktop-like picture: a wallpaper gradient, a document window with lines of text."""
    rng = np.random.default_rng(seed)
    frame = np.zeros((HEIGHT, WIDTH, 4), dtype=np.uint8)
    frame[..., 0] = np.linspace(90, 160, WIDTH, dtype=np.uint8)[None, :]
    frame[..., 1] = np.linspace(60, 120, HEIGHT, dtype=np.uint8)[:, None]
    frame[..., 2] = 40
    frame[..., 3] = 255
    frame[100:1000, 200:1500, :3] = 250  # the document
    for row in range(120, 980, 22):
        x = 230
        while x < 1450:
            width = int(rng.integers(4, 60))
            frame[row:row + 12, x:x + width, :3] = 30
            x += width + int(rng.integers(6, 12))
    return frame


def typing(base: Frame, frames: int) -> Iterator[Frame]:
    frame = base.copy()
    frame[500:520, 230:1450, :3] = 250
    for i in range(frames):
        x = 232 + (i % 120) * 10
        frame[504:516, x:x + 7, :3] = 20  # a glyph
        cursor = frame.copy()
        cursor[502:518, x + 9:x + 10, :3] = 0
        yield cursor


def pointer(base: Frame, frames: int) -> Iterator[Frame]:
    for i in range(frames):
        frame = base.copy()
        x, y = 300 + i * 23, 200 + i * 11
        frame[y:y + 19, x:x + 12, :3] = 0
        frame[y + 1:y + 17, x + 1:x + 10, :3] = 255
        yield frame


def scrolling(base: Frame, frames: int) -> Iterator[Frame]:
    frame = base.copy()
    for _ in range(frames):
        frame[100:978, 200:1500] = frame[122:1000, 200:1500]
        frame[978:1000, 200:1500, :3] = 250
        yield frame.copy()


def window_moving(base: Frame, frames: int) -> Iterator[Frame]:
    window = np.full((400, 600, 4), 235, dtype=np.uint8)
    window[:30, :, :3] = (120, 80, 40)
    window[60:340:20, 30:570, :3] = 60
    for i in range(frames):
        frame = base.copy()
        x, y = 100 + i * 15, 150 + i * 5
        frame[y:y + 400, x:x + 600] = window
        yield frame


SCENARIOS: dict[str, Callable[[Frame, int], Iterator[Frame]]] = {
    "typing": typing, "cursor": pointer, "scrolling": scrolling, "window moving": window_moving,
}


def measure(frames: list[Frame], encode: Callable[[Frame], int]) -> tuple[int, float, float]:
    """Total bytes, CPU ms per frame, frames per second."""
    cpu, wall = time.process_time(), time.perf_counter()
    total = sum(encode(frame) for frame in frames)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return total, cpu * 1000 / len(frames), len(frames) / wall


def coview_pipeline(first: Frame) -> Callable[[Frame], int]:
    encoder = TileEncoder(quality=QUALITY)
    encoder.encode(first, key=True)  # the agent already has the picture before the trace

    def encode(frame: Frame) -> int:
        return sum(len(t.jpeg) for t in encoder.encode(frame))
    return encode


def full_frame(frame: Frame) -> int:
    return len(simplejpeg.encode_jpeg(frame, quality=QUALITY, colorspace="BGRA",
                                      colorsubsampling="420", fastdct=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    base = desktop()
    traces = {name: list(make(base, args.frames)) for name, make in SCENARIOS.items()}
    results: dict[str, dict[str, list[tuple[int, float, float]]]] = {
        name: {"coview": [], "full": []} for name in traces}
    for _ in range(args.runs):  # interleaved: the machine's noise hits both alike
        for name, frames in traces.items():
            results[name]["coview"].append(measure(frames, coview_pipeline(base)))
            results[name]["full"].append(measure(frames, full_frame))

    def median(rows: list[tuple[int, float, float]], i: int) -> float:
        return statistics.median(r[i] for r in rows)

    print(f"{WIDTH}x{HEIGHT}, JPEG quality {QUALITY}, {args.frames} frames a scenario, "
          f"median of {args.runs} interleaved runs, one core")
    header = (f"{'scenario':<14}{'coview KB':>11}{'full KB':>10}{'bytes':>8}"
              f"{'coview ms':>11}{'full ms':>9}{'CPU':>7}{'coview fps':>12}{'full fps':>10}")
    print(header)
    totals = {"coview": [0.0, 0.0, 0.0], "full": [0.0, 0.0, 0.0]}
    for name in traces:
        c, f = results[name]["coview"], results[name]["full"]
        cb, fb = median(c, 0), median(f, 0)
        cm, fm = median(c, 1), median(f, 1)
        cf, ff = median(c, 2), median(f, 2)
        for kind, (b, m) in (("coview", (cb, cm)), ("full", (fb, fm))):
            totals[kind][0] += b
            totals[kind][1] += m * args.frames
        print(f"{name:<14}{cb / 1024:>11.0f}{fb / 1024:>10.0f}{cb / fb:>7.3f}x"
              f"{cm:>11.2f}{fm:>9.2f}{cm / fm:>6.2f}x{cf:>12.0f}{ff:>10.0f}")
    n = args.frames * len(traces)
    cb, fb = totals["coview"][0], totals["full"][0]
    cm, fm = totals["coview"][1] / n, totals["full"][1] / n
    print(f"{'whole trace':<14}{cb / 1024:>11.0f}{fb / 1024:>10.0f}{cb / fb:>7.3f}x"
          f"{cm:>11.2f}{fm:>9.2f}{cm / fm:>6.2f}x")


if __name__ == "__main__":
    main()
