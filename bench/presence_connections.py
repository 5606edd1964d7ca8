"""Presence benchmark: idle presence connections on one Coview server process.

Starts ``coview serve`` (SQLite, demo group, its presence listener on ``--presence-port``,
where the SDK moves by itself) and, in the same run, a bare ``websockets`` server
that answers the same hello with a welcome; opens the same number of idle connections to each
from a client process and reports each server's memory per connection (growth of its resident
set) and their ratio. Then restarts the Coview server and times how long until every client
(reconnecting as the SDK does: backoff from 0.3 s doubling to 5 s, with jitter) is welcomed
again.

    python bench/presence_connections.py [--connections 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BATCH = 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# -- the bare server ---------------------------------------------------------------------------

async def bare_server(port: int) -> None:
    import logging

    from websockets.asyncio.server import serve

    logging.getLogger("websockets").setLevel(logging.CRITICAL)  # clients killed at the end

    from coview.protocol.frames import decode_frame, encode_frame

    async def handler(ws):  # type: ignore[no-untyped-def]
        async for message in ws:
            if decode_frame(message, max_bytes=8192).header.get("t") == "presence":
                await ws.send(encode_frame({"t": "welcome"}))

    async with serve(handler, "127.0.0.1", port, compression=None, ping_interval=20):
        print("ready", flush=True)
        await asyncio.Future()


# -- the clients -------------------------------------------------------------------------------

class Clients:
    """N presence clients that reconnect as the SDK does."""

    def __init__(self, url: str, count: int) -> None:
        self.url = url
        self.count = count
        self.welcomed: set[int] = set()
        self.changed = asyncio.Event()

    async def one(self, n: int) -> None:
        from websockets.asyncio.client import connect

        from coview.protocol.frames import decode_frame, encode_frame

        hello = encode_frame({"t": "presence", "v": "1.0", "group_id": 12345,
                              "visitor_id": f"bench-{n}", "info": {"page": "home"}})
        backoff = 0.3
        while True:
            try:
                async with connect(self.url, compression=None, ping_interval=None,
                                   open_timeout=30) as ws:
                    await ws.send(hello)
                    async for message in ws:
                        if decode_frame(message, max_bytes=8192).header.get("t") == "welcome":
                            self.welcomed.add(n)
                            self.changed.set()
                            backoff = 0.3
            except Exception:  # noqa: BLE001 (the SDK reconnects whatever went wrong)
                pass
            self.welcomed.discard(n)
            await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, 5.0)

    async def wait_all(self, timeout: float) -> float:
        started = time.monotonic()
        while len(self.welcomed) < self.count:
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"only {len(self.welcomed)} of {self.count} welcomed")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 1)
        return time.monotonic() - started


async def client_main(url: str, count: int) -> None:
    """Connect ``count`` clients, report, then keep them (reconnecting) until told."""
    clients = Clients(url, count)
    started = time.monotonic()
    tasks = []
    for start in range(0, count, BATCH):
        tasks.extend(asyncio.create_task(clients.one(n))
                     for n in range(start, min(count, start + BATCH)))
        while len(clients.welcomed) < min(count, start + BATCH) * 0.98:
            await asyncio.sleep(0.05)
    await clients.wait_all(300)
    print(json.dumps({"connected": len(clients.welcomed),
                      "seconds": time.monotonic() - started}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        if line == "lost":  # the server is going down: count from when it is back
            while clients.welcomed:
                await asyncio.sleep(0.05)
            print(json.dumps({"lost": True}), flush=True)
        elif line == "wait":
            seconds = await clients.wait_all(600)
            print(json.dumps({"connected": len(clients.welcomed), "seconds": seconds}),
                  flush=True)
    for task in tasks:
        task.cancel()


def spawn_clients(url: str, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, "--client", url, "--connections",
                             str(count)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)


def read_json(process: subprocess.Popen[str]) -> dict[str, object]:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError("the client process stopped")
    result: dict[str, object] = json.loads(line)
    return result


# -- the servers -------------------------------------------------------------------------------

def start_coview(port: int, presence_port: int, data: str) -> subprocess.Popen[bytes]:
    out = Path(data) / "serve.out"
    with out.open("a") as stdout:
        process = subprocess.Popen(
            [sys.executable, "-m", "coview", "serve", "--port", str(port), "--data-dir", data,
             "--demo", "--presence-port", str(presence_port)], stdout=stdout,
            stderr=subprocess.DEVNULL, env={**os.environ, "COVIEW_LOG_LEVEL": "warning"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                password = re.findall(r"username demo, password (\S+)", out.read_text())[-1]
                # The clients claim visitor IDs without tokens: what is measured is the cost
                # of a connection, not of checking a token.
                publish(port, password, {"visitor_id_requires_token": False})
                return process
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("the Coview server did not start")


def publish(port: int, password: str, settings: dict[str, object]) -> None:
    base = f"http://127.0.0.1:{port}/api/v1"
    token = httpx.post(f"{base}/auth/login", json={"group_id": 12345, "username": "demo",
                                                   "password": password}).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    httpx.patch(f"{base}/settings", headers=auth, json=settings).raise_for_status()
    httpx.post(f"{base}/settings/publish", headers=auth).raise_for_status()


def start_bare(port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, __file__, "--bare", str(port)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def measure(pid: int, url: str, count: int) -> tuple[float, subprocess.Popen[str]]:
    """KiB of server memory per idle connection, and the client process (still connected)."""
    time.sleep(1)
    before = rss_kib(pid)
    clients = spawn_clients(url, count)
    result = read_json(clients)
    time.sleep(2)
    after = rss_kib(pid)
    print(f"  {result['connected']} connections in {float(result['seconds']):.1f} s; "  # type: ignore[arg-type]
          f"server RSS {before / 1024:.0f} -> {after / 1024:.0f} MiB", flush=True)
    return (after - before) / count, clients


def stop(process: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--client")
    parser.add_argument("--bare", type=int)
    args = parser.parse_args()
    raise_fd_limit()
    if args.client:
        asyncio.run(client_main(args.client, args.connections))
        return
    if args.bare:
        asyncio.run(bare_server(args.bare))
        return
    count = args.connections
    print(f"{count} idle presence connections, one server process each", flush=True)

    bare_port = free_port()
    bare = start_bare(bare_port)
    print("bare websockets server:", flush=True)
    bare_kib, bare_clients = measure(bare.pid, f"ws://127.0.0.1:{bare_port}/", count)
    stop(bare_clients)
    stop(bare)

    with tempfile.TemporaryDirectory() as data:
        port, presence_port = free_port(), free_port()
        coview = start_coview(port, presence_port, data)
        print("Coview server (its presence listener, --presence-port):", flush=True)
        coview_kib, clients = measure(
            coview.pid, f"ws://127.0.0.1:{presence_port}/ws/v1/presence", count)
        assert clients.stdin is not None
        clients.stdin.write("lost\n")
        clients.stdin.flush()
        stop(coview)
        read_json(clients)
        restarted = time.monotonic()
        coview = start_coview(port, presence_port, data)
        ready = time.monotonic() - restarted
        clients.stdin.write("wait\n")
        clients.stdin.flush()
        back = read_json(clients)
        stop(clients)
        stop(coview)

    print(f"\n{'server':<28}{'KiB per connection':>20}")
    print(f"{'bare websockets':<28}{bare_kib:>20.1f}")
    print(f"{'coview presence':<28}{coview_kib:>20.1f}")
    print(f"ratio: {coview_kib / bare_kib:.2f}x (target at most 1.3x)")
    print(f"restart: server ready in {ready:.1f} s, then all {back['connected']} clients back "
          f"in {float(back['seconds']):.1f} s")  # type: ignore[arg-type]


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
