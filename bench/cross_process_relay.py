"""Cross-process relay benchmark: two Coview processes and Redis, against raw Redis
publish/subscribe of the same payload between two bare relays.

The visitor is connected to one process and the agent to the other. The baseline is two bare
``websockets`` relays: the first PUBLISHes each message of its visitor to a Redis channel, the
second is SUBSCRIBEd to it and forwards to its agent; nothing else. Both use one private
``redis-server`` started here. Measured, interleaved, median of ``--runs`` runs:

1. one-way latency visitor -> agent for 1 KiB page-event batches sent every 2 ms (p50, p99);
2. throughput: 4 KiB batches as fast as the visitor sends them, delivered per second;
3. Redis commands per relayed event (``total_commands_processed`` during the latency run,
   heartbeats included, divided by the messages);
4. HTTP tunnel requests (an empty ``send``) to the process that holds the tunnel and to the
   other one, which passes them over Redis (p50, p99 of ``--messages`` requests each).

    python bench/cross_process_relay.py [--runs 3] [--messages 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cobrowse_relay import (  # noqa: E402
    BareRelay,
    CoviewRelay,
    Relay,
    _stamp,
    free_port,
    latency,
)

CHANNEL = "bench"


async def bare_pubsub(port: int, redis_url: str, role: str) -> None:
    """``in``: publish what the visitor sends; ``out``: forward what is published to agents."""
    from websockets.asyncio.server import ServerConnection, serve

    redis = Redis.from_url(redis_url)
    agents: set[ServerConnection] = set()

    async def handle(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send("ok")
        if role == "in":
            async for message in ws:
                await redis.publish(CHANNEL, message)
        else:
            agents.add(ws)
            with contextlib.suppress(Exception):
                await ws.wait_closed()
            agents.discard(ws)

    async def forward() -> None:
        pubsub = redis.pubsub()
        await pubsub.subscribe(CHANNEL)
        async for item in pubsub.listen():
            if item["type"] == "message":
                for ws in list(agents):
                    with contextlib.suppress(Exception):
                        await ws.send(item["data"])

    async with serve(handle, "127.0.0.1", port, max_size=None, compression=None):
        if role == "out":
            asyncio.get_running_loop().create_task(forward())
        print("ready", flush=True)
        await asyncio.Future()


class PubSubRelay(BareRelay):
    name = "redis pub/sub"

    def __init__(self, in_port: int, out_port: int) -> None:
        self.in_url, self.out_url = f"ws://127.0.0.1:{in_port}/", f"ws://127.0.0.1:{out_port}/"

    async def visitor(self) -> ClientConnection:
        self.url = self.in_url
        return await self._open("visitor")

    async def agent(self) -> ClientConnection:
        self.url = self.out_url
        return await self._open("agent")


class CrossCoview(CoviewRelay):
    """The visitor on one process, the agent on the other."""

    name = "coview, 2 processes"

    def __init__(self, visitor_port: int, agent_port: int, password: str) -> None:
        super().__init__(agent_port, password)
        self.agent_url = self.url
        self.visitor_url = f"ws://127.0.0.1:{visitor_port}/ws/v1/session"

    async def visitor(self) -> ClientConnection:
        self.url = self.visitor_url
        return await super().visitor()

    async def agent(self) -> ClientConnection:
        self.url = self.agent_url
        return await super().agent()


async def throughput(relay: Relay, messages: int) -> float:
    visitor = await relay.visitor()
    agent = await relay.agent()
    await asyncio.sleep(0.2)
    got = 0

    async def read() -> None:
        nonlocal got
        while got < messages:
            if relay.payload(bytes(await agent.recv())) is not None:  # type: ignore[arg-type]
                got += 1

    reader = asyncio.create_task(read())
    began = time.perf_counter()
    for n in range(messages):
        await visitor.send(relay.frame(n + 1, _stamp(n, 4096)))
    await asyncio.wait_for(reader, 120)
    rate = messages / (time.perf_counter() - began)
    await agent.close()
    await visitor.close()
    return rate


def tunnel_requests(ports: list[int], count: int) -> dict[str, tuple[float, float]]:
    """Milliseconds for an empty tunnel send, at the tunnel's own process and at the other."""
    own, other = (f"http://127.0.0.1:{port}" for port in ports)
    timings: dict[str, list[float]] = {"own process": [], "other process": []}
    with httpx.Client() as client:
        tunnel = client.post(f"{own}/tunnel/v1").json()["tunnel"]
        for _ in range(count):
            for name, base in (("own process", own), ("other process", other)):
                began = time.perf_counter()
                response = client.post(f"{base}/tunnel/v1/{tunnel}/send", content=b"")
                timings[name].append((time.perf_counter() - began) * 1000)
                assert response.status_code == 204, response.text
        client.delete(f"{own}/tunnel/v1/{tunnel}")
    return {name: (statistics.median(t), statistics.quantiles(t, n=100)[98])
            for name, t in timings.items()}


async def commands(redis_url: str) -> int:
    redis = Redis.from_url(redis_url)
    try:
        return int((await redis.info("stats"))["total_commands_processed"])
    finally:
        await redis.aclose()


def start(args: list[str], **kwargs: object) -> subprocess.Popen[str]:
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, **kwargs)  # type: ignore[call-overload]
    return process  # type: ignore[no-any-return]


def run(options: argparse.Namespace) -> None:
    redis_port = free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    procs: list[subprocess.Popen[str]] = [subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"], stdout=subprocess.DEVNULL, text=True)]
    data = tempfile.mkdtemp(prefix="coview-bench-")
    database = options.database_url
    try:
        time.sleep(0.3)
        ports = [free_port(), free_port()]
        password = ""
        for i, port in enumerate(ports):
            out = Path(data) / f"serve-{port}.out"
            with out.open("w") as stdout:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "coview", "serve", "--port", str(port),
                     "--data-dir", data, "--database-url", database, "--redis-url", redis_url,
                     *(["--demo"] if i == 0 else [])],
                    stdout=stdout, stderr=subprocess.DEVNULL, text=True,
                    env={**os.environ, "COVIEW_LOG_LEVEL": "warning"}))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                        break
                time.sleep(0.1)
            if i == 0:
                text = out.read_text()
                password = text.split("password ", 1)[1].split()[0]
        bare_ports = [free_port(), free_port()]
        for port, role in zip(bare_ports, ("in", "out"), strict=True):
            process = start([sys.executable, __file__, "--bare", str(port), redis_url, role])
            procs.append(process)
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
        coview = CrossCoview(ports[0], ports[1], password)
        bare = PubSubRelay(*bare_ports)
        results: dict[str, dict[str, list[float]]] = {
            r.name: {"p50": [], "p99": [], "rate": [], "commands": []} for r in (coview, bare)}
        for _ in range(options.runs):
            for relay in (coview, bare):
                before = asyncio.run(commands(redis_url))
                p50, p99 = asyncio.run(latency(relay, options.messages))
                used = asyncio.run(commands(redis_url)) - before
                results[relay.name]["p50"].append(p50)
                results[relay.name]["p99"].append(p99)
                results[relay.name]["commands"].append(used / options.messages)
                results[relay.name]["rate"].append(
                    asyncio.run(throughput(relay, options.messages)))
        med = {name: {k: statistics.median(v) for k, v in r.items()}
               for name, r in results.items()}
        print(f"{'relay':22} {'p50 ms':>8} {'p99 ms':>8} {'msg/s':>9} {'redis cmds/msg':>15}")
        for name, r in med.items():
            print(f"{name:22} {r['p50']:8.2f} {r['p99']:8.2f} {r['rate']:9.0f} "
                  f"{r['commands']:15.2f}")
        c, b = med[coview.name], med[bare.name]
        print(f"coview / redis pub/sub: p50 {c['p50'] / b['p50']:.2f}x, "
              f"p99 {c['p99'] / b['p99']:.2f}x, throughput {c['rate'] / b['rate']:.2f}x")
        print(f"\n{'tunnel send at':22} {'p50 ms':>8} {'p99 ms':>8}")
        for name, (p50, p99) in tunnel_requests(ports, options.messages).items():
            print(f"{name:22} {p50:8.2f} {p99:8.2f}")
    finally:
        for process in reversed(procs):
            process.kill()
            process.wait()


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--bare":
        asyncio.run(bare_pubsub(int(sys.argv[2]), sys.argv[3], sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--database-url", default="postgresql+asyncpg://postgres@127.0.0.1/test")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
