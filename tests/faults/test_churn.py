"""Churn: sessions started, used and ended in a loop give their memory and file descriptors
back (a short run; ``bench/soak.py`` is the long one)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from coview.protocol.frames import decode_frame, encode_frame
from tests.conftest import Figure, Server, run_async, start_server, wait_until
from tests.helpers import bearer, login

pytestmark = pytest.mark.e2e

SESSIONS = 20
PAGES = 15
PAGE = b"x" * (1 << 20)


def rss_mb(server: Server) -> float:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(next(line for line in status.splitlines()
                    if line.startswith("VmRSS")).split()[1]) / 1024


def open_fds(server: Server) -> int:
    return len(list(Path(f"/proc/{server.process.pid}/fd").iterdir()))


async def one_session(url: str, drop: bool) -> None:
    """A cobrowse visitor sends 15 one-MiB page frames, then ends (or just drops)."""
    async with connect(url, max_size=None) as sock:
        await sock.send(encode_frame({"t": "start", "v": "1.0", "group_id": 12345,
                                      "key_kind": "random", "session_type": "cobrowse"}))
        assert decode_frame(await sock.recv(), max_bytes=1 << 20).header["t"] == "welcome"
        for seq in range(1, PAGES + 1):
            await sock.send(encode_frame({"t": "dom", "s": seq, "full": seq == 1}, PAGE))
        if not drop:
            await sock.send(encode_frame({"t": "end", "s": PAGES + 1}))
            while decode_frame(await sock.recv(), max_bytes=1 << 20).header["t"] != "r":
                pass


async def one_round(url: str) -> None:
    await asyncio.gather(*(one_session(url, drop=n % 2 == 1) for n in range(SESSIONS)))


def loop_tasks(server: Server) -> int:
    """The server's event-loop tasks, from its own /metrics."""
    text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    return int(float(next(line.split()[1] for line in text.splitlines()
                          if line.startswith("coview_event_loop_tasks "))))


def running(server: Server) -> int:
    with server.client() as client:
        auth = bearer(login(client, server.demo_password))
        page = client.get("/api/v1/sessions?limit=500", headers=auth).json()
    return sum(1 for s in page["sessions"] if s["end_reason"] is None)


def test_memory_and_descriptors_come_back_after_sessions_end(tmp_path: Path,
                                                             figure: Figure) -> None:
    """Three rounds of 20 sessions of 15 MiB each, half ended by the visitor and half
    dropped (ended by the server after the reconnect window): the server's RSS after each
    round comes back (within 15 s of its sessions' end) to within 60 MB of the first, and
    its descriptors and event-loop tasks stay as after the first."""
    server = start_server(tmp_path, ["--data-dir", str(tmp_path / "data")])
    try:
        with server.client() as client:
            auth = bearer(login(client, server.demo_password))
            assert client.patch("/api/v1/settings", headers=auth, json={
                "reconnect_window_seconds": 5, "starts_per_address_per_minute": 1000,
            }).status_code == 200
            assert client.post("/api/v1/settings/publish", headers=auth).status_code == 200
        url = server.base_url.replace("http://", "ws://") + "/ws/v1/session"
        after_round, fds, tasks = [], [], []
        for _ in range(3):
            run_async(one_round(url))
            wait_until(lambda: running(server) == 0, timeout=30,
                       what="every session of the round to end")
            after_round.append(rss_mb(server))
            fds.append(open_fds(server))
            tasks.append(loop_tasks(server))
        print(f"server RSS after each round: {after_round} MB; descriptors: {fds}; "
              f"tasks: {tasks}")
        figure("server RSS growth over 3 rounds of 20 sessions x 15 MiB (after round 1)",
               f"{max(after_round) - after_round[0]:.0f} MB", "< 60 MB")
        figure("server descriptors after round 3 vs round 1", f"{fds[2]} vs {fds[0]}",
               "fewer than 5 more (one leaked per session would be 40)")
        figure("server event-loop tasks after round 3 vs round 1", f"{tasks[2]} vs {tasks[0]}",
               "fewer than 5 more (one leaked per session would be 20)")
        # The first round sets the baseline (the allocator keeps what it grew to once).
        assert max(after_round) - after_round[0] < 60, after_round
        assert fds[2] - fds[0] < 5, fds  # a leak would hold one or more per session
        assert tasks[2] - tasks[0] < 5, tasks  # one leaked per session would be 20 more
    finally:
        server.stop()
