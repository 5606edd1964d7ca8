"""Soak: sessions started, used and ended in a loop for a long time; the server's memory,
descriptors and tasks must come back to where they were (issue 14, suite item 12; the short
run is ``tests/faults/test_churn.py``).

A ``coview serve --demo`` process runs on SQLite. Each load worker is a process of its own and
loops: a cobrowse visitor starts a session, an agent joins with a token, the visitor sends a
256 KiB page and then 64 KiB increments that the agent reads, and the session ends one of three
ways in turn: the visitor ends it, the agent ends it, or both sockets drop and the server ends
it when the reconnect window (5 s here) runs out. The server is read through its own
``/metrics`` every ``--every`` seconds. The reference is the same server after a warm-up
(the allocator keeps what it grew to once): the figures are the change from there to the end,
once the load has stopped and the last dropped sessions have ended.

    python bench/soak.py [--minutes 10] [--workers 2] [--every 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cobrowse_relay import free_port, publish, start_coview  # noqa: E402

from coview.protocol.frames import decode_frame, encode_frame  # noqa: E402

PAGE = b"p" * (256 << 10)
INCREMENT = b"i" * (64 << 10)
INCREMENTS = 10
ENDINGS = ("visitor ends", "agent ends", "sockets drop")
WATCHED = ("process_resident_memory_bytes", "process_open_fds", "coview_event_loop_tasks",
           "coview_live_sessions")


# -- the load: one process per worker -----------------------------------------------------------

async def header(sock: ClientConnection) -> dict[str, object]:
    frame = decode_frame(await asyncio.wait_for(sock.recv(), 30), max_bytes=1 << 24)
    return dict(frame.header)


async def one_session(url: str, token: str, ending: str) -> None:
    visitor = await connect(url, max_size=None)
    await visitor.send(encode_frame({"t": "start", "v": "1.0", "group_id": 12345,
                                     "key_kind": "random", "session_type": "cobrowse"}))
    welcome = await header(visitor)
    assert welcome["t"] == "welcome", welcome
    agent = await connect(url, max_size=None)
    await agent.send(encode_frame({"t": "join", "v": "1.0", "key": welcome["key"],
                                   "token": token}))
    assert (await header(agent))["t"] == "welcome"
    await visitor.send(encode_frame({"t": "dom", "s": 1, "full": True}, PAGE))
    for seq in range(2, INCREMENTS + 2):
        await visitor.send(encode_frame({"t": "dom", "s": seq}, INCREMENT))
    for _ in range(INCREMENTS + 1):  # the agent reads every batch
        while (await header(agent))["t"] != "r":
            pass
    if ending == "visitor ends":
        await visitor.send(encode_frame({"t": "end", "s": INCREMENTS + 2}))
    elif ending == "agent ends":
        await agent.send(encode_frame({"t": "end", "s": 1}))
    if ending != "sockets drop":  # the server says so and closes the visitor's socket
        with contextlib.suppress(ConnectionClosed):
            while True:
                await header(visitor)
    await agent.close()
    await visitor.close()


async def work(port: int, token: str, seconds: float) -> int:
    url = f"ws://127.0.0.1:{port}/ws/v1/session"
    deadline = time.monotonic() + seconds
    done = 0
    while time.monotonic() < deadline:
        await one_session(url, token, ENDINGS[done % len(ENDINGS)])
        done += 1
    return done


def start_worker(port: int, token: str, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, "--worker", str(port), token,
                             str(seconds)], stdout=subprocess.PIPE, text=True)


# -- the server's figures ------------------------------------------------------------------------

def sample(port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    found: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in WATCHED:
            found[name] = float(value)
    return found


def row(label: str, sessions: int, figures: dict[str, float]) -> str:
    return (f"{label:>12} {sessions:>9} {figures['process_resident_memory_bytes'] / 2**20:>8.1f}"
            f" {figures['process_open_fds']:>5.0f} {figures['coview_event_loop_tasks']:>6.0f}"
            f" {figures['coview_live_sessions']:>5.0f}")


def sessions_done(workers: list[subprocess.Popen[str]]) -> int:
    total = 0
    for worker in workers:
        assert worker.stdout is not None
        out, _ = worker.communicate(timeout=120)
        if worker.returncode != 0:
            raise SystemExit("a load worker failed (its error is above)")
        total += int(out.strip())
    return total


def run(args: argparse.Namespace) -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        server, password = start_coview(port, data)
        try:
            # Past the anonymous-start limits (this load is one address, many starts a second).
            publish(port, password, {"reconnect_window_seconds": 5,
                                     "starts_per_address_per_minute": 100_000,
                                     "starts_per_minute": 1_000_000})
            token = httpx.post(f"http://127.0.0.1:{port}/api/v1/auth/login", json={
                "group_id": 12345, "username": "demo", "password": password}).json()["token"]
            print(f"{'':>12} {'sessions':>9} {'RSS MB':>8} {'fds':>5} {'tasks':>6} {'live':>5}")
            print(row("start", 0, sample(port)), flush=True)
            warm_up = sessions_done([start_worker(port, token, args.warm_up)
                                     for _ in range(args.workers)])
            time.sleep(7)  # the dropped sessions of the warm-up end (5 s window)
            reference = sample(port)
            print(row("after warm-up", warm_up, reference), flush=True)
            seconds = args.minutes * 60
            workers = [start_worker(port, token, seconds) for _ in range(args.workers)]
            began = time.monotonic()
            while (elapsed := time.monotonic() - began) < seconds:
                time.sleep(min(args.every, max(0.1, seconds - elapsed)))
                print(row(f"{time.monotonic() - began:.0f} s", -1, sample(port))
                      .replace("       -1", "        ."), flush=True)
            total = sessions_done(workers)
            time.sleep(7)
            end = sample(port)
            print(row("load stopped", total, end))
            rss = (end["process_resident_memory_bytes"]
                   - reference["process_resident_memory_bytes"]) / 2**20
            print(f"\n{total} sessions in {args.minutes:g} min ({args.workers} workers, "
                  f"{total / seconds:.1f} sessions/s), each a 256 KiB page and "
                  f"{INCREMENTS} x 64 KiB, a third each ended by the visitor, the agent, a drop")
            print(f"RSS after the load vs after warm-up: {rss:+.1f} MB "
                  f"({rss * 1024 / max(total, 1):+.2f} KiB per session)")
            print(f"descriptors: {end['process_open_fds']:.0f} vs "
                  f"{reference['process_open_fds']:.0f}; event-loop tasks: "
                  f"{end['coview_event_loop_tasks']:.0f} vs "
                  f"{reference['coview_event_loop_tasks']:.0f}; live sessions: "
                  f"{end['coview_live_sessions']:.0f}")
        finally:
            server.terminate()
            server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--every", type=float, default=30, help="seconds between samples")
    parser.add_argument("--warm-up", type=float, default=30, help="seconds of warm-up load")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        port, token, seconds = args.worker
        print(asyncio.run(work(int(port), token, float(seconds))))
        return
    run(args)


if __name__ == "__main__":
    main()
