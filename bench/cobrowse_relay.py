"""Cobrowse relay benchmark: the Coview server against a bare ``websockets`` relay.

Both run as separate processes in the same run; the bare relay forwards each binary message
of its one visitor connection to every agent connection with websockets' ``broadcast``,
nothing else. The load (one visitor,
agents) runs in this process. Measured, interleaved, median of ``--runs`` runs:

1. one-way latency visitor -> agent for page-event batches of 1 KiB sent every 2 ms
   (p50 and p99);
2. fan-out: one visitor sending 4 KiB batches as fast as it can to 10 agents, each client a
   process of its own: messages per second delivered to all of them, and the server's CPU
   time per delivery (from /proc; Coview's agents acknowledge as its clients do, cumulatively
   at most once per 5 ms; the bare relay has no acknowledgements);
3. a late agent's catch-up on a large page: a 1 MiB full snapshot and 200 increments are in
   the session; the time from the agent's hello to its last catch-up frame (against the bare
   relay forwarding the same bytes to a connected agent).

    python bench/cobrowse_relay.py [--runs 3] [--messages 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from coview.protocol.client import ACK_INTERVAL  # noqa: E402
from coview.protocol.frames import decode_frame, encode_frame  # noqa: E402

FAN_OUT = 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the bare relay ----------------------------------------------------------------------------

async def bare_relay(port: int) -> None:
    """First message "visitor" or "agent"; the visitor's messages go to every agent."""
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    agents: set[ServerConnection] = set()

    async def handle(ws: ServerConnection) -> None:
        role = await ws.recv()
        if role == "agent":
            agents.add(ws)
            await ws.send("ok")
            try:
                await ws.wait_closed()
            finally:
                agents.discard(ws)
            return
        await ws.send("ok")
        async for message in ws:
            # websockets' own fan-out: each agent's copy written at once, none awaited
            broadcast(agents, message)

    async with serve(handle, "127.0.0.1", port, max_size=None, compression=None):
        print("ready", flush=True)
        await asyncio.Future()


# -- the servers -------------------------------------------------------------------------------

def publish(port: int, password: str, settings: dict[str, Any]) -> None:
    """Publish group settings (the bench starts more sessions a minute from one address than
    the anonymous-start limit lets a visitor)."""
    base = f"http://127.0.0.1:{port}/api/v1"
    token = httpx.post(f"{base}/auth/login", json={"group_id": 12345, "username": "demo",
                                                   "password": password}).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    httpx.patch(f"{base}/settings", headers=auth, json=settings).raise_for_status()
    httpx.post(f"{base}/settings/publish", headers=auth).raise_for_status()


def idle_memory(data: str) -> float:
    """RSS (MB) of a ``coview serve --demo`` that has started and served nothing yet."""
    port = free_port()
    with (Path(data) / "idle.out").open("w") as stdout:
        process = subprocess.Popen(
            [sys.executable, "-m", "coview", "serve", "--port", str(port), "--data-dir",
             str(Path(data) / "idle"), "--demo"], stdout=stdout, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    time.sleep(1)
                    return rss_mb(process.pid)
            time.sleep(0.1)
        raise RuntimeError("the Coview server did not start")
    finally:
        process.terminate()
        process.wait(timeout=20)


def start_coview(port: int, data: str) -> tuple[subprocess.Popen[bytes], str]:
    out = Path(data) / "serve.out"
    with out.open("w") as stdout:
        process = subprocess.Popen(
            [sys.executable, "-m", "coview", "serve", "--port", str(port), "--data-dir", data,
             "--demo"], stdout=stdout, stderr=subprocess.DEVNULL,
            env={**os.environ, "COVIEW_LOG_LEVEL": "warning"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                found = re.search(r"username demo, password (\S+)", out.read_text())
                assert found, "no demo password printed"
                publish(port, found.group(1), {"starts_per_address_per_minute": 100_000})
                return process, found.group(1)
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("the Coview server did not start")


def start_bare(port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, __file__, "--bare", str(port)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


# -- the two relays as the load sees them ------------------------------------------------------

class Relay:
    """Open a visitor and agents, send a page batch, receive page batches."""

    name = ""

    async def visitor(self) -> ClientConnection: ...
    async def agent(self) -> ClientConnection: ...
    def frame(self, seq: int, payload: bytes, full: bool = False) -> bytes: ...
    def payload(self, message: bytes) -> bytes | None: ...


class CoviewRelay(Relay):
    name = "coview"

    def __init__(self, port: int, password: str) -> None:
        self.url = f"ws://127.0.0.1:{port}/ws/v1/session"
        self.key = ""
        self.token = ""
        if password:
            answer = httpx.post(f"http://127.0.0.1:{port}/api/v1/auth/login", json={
                "group_id": 12345, "username": "demo", "password": password})
            self.token = answer.json()["token"]

    @classmethod
    def with_token(cls, port: int, token: str) -> CoviewRelay:
        relay = cls(port, "")
        relay.token = token
        return relay

    async def visitor(self) -> ClientConnection:
        ws = await connect(self.url, max_size=None, compression=None)
        await ws.send(encode_frame({"t": "start", "v": "1.0", "group_id": 12345,
                                    "key_kind": "random", "session_type": "cobrowse"}))
        self.key = decode_frame(bytes(await ws.recv()), max_bytes=1 << 30).header["key"]  # type: ignore[arg-type]
        asyncio.get_running_loop().create_task(_drain(ws))  # acks and keyframe requests
        return ws

    async def agent(self) -> ClientConnection:
        ws = await connect(self.url, max_size=None, compression=None)
        await ws.send(encode_frame({"t": "join", "v": "1.0", "key": self.key,
                                    "token": self.token}))
        while decode_frame(bytes(await ws.recv()), max_bytes=1 << 30).type != "welcome":  # type: ignore[arg-type]
            pass
        return ws

    def frame(self, seq: int, payload: bytes, full: bool = False) -> bytes:
        return encode_frame({"t": "dom", "full": full, "s": seq}, payload)

    def payload(self, message: bytes) -> bytes | None:
        frame = decode_frame(message, max_bytes=1 << 30)
        if frame.type in ("r", "catchup"):
            inner = decode_frame(frame.payload, max_bytes=1 << 30)
            if frame.type == "catchup":
                inner = decode_frame(inner.payload, max_bytes=1 << 30)
            if inner.type == "dom":
                return inner.payload
        return None


class BareRelay(Relay):
    name = "bare"

    def __init__(self, port: int) -> None:
        self.url = f"ws://127.0.0.1:{port}/"

    async def _open(self, role: str) -> ClientConnection:
        ws = await connect(self.url, max_size=None, compression=None)
        await ws.send(role)
        await ws.recv()
        return ws

    async def visitor(self) -> ClientConnection:
        return await self._open("visitor")

    async def agent(self) -> ClientConnection:
        return await self._open("agent")

    def frame(self, seq: int, payload: bytes, full: bool = False) -> bytes:
        # The same envelope as Coview's, so both move the same bytes.
        return encode_frame({"t": "dom", "full": full, "s": seq}, payload)

    def payload(self, message: bytes) -> bytes | None:
        return decode_frame(message, max_bytes=1 << 30).payload


async def _drain(ws: ClientConnection) -> None:
    with contextlib.suppress(Exception):
        async for _ in ws:
            pass


def _stamp(n: int, size: int) -> bytes:
    head = json.dumps({"n": n, "t": time.perf_counter()}).encode()
    return head + b" " * (size - len(head))


def _read_stamp(payload: bytes) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(payload.rstrip(b" "))
    return result


# -- the measurements --------------------------------------------------------------------------

async def latency(relay: Relay, messages: int) -> tuple[float, float]:
    visitor = await relay.visitor()
    agent = await relay.agent()
    delays: list[float] = []

    async def read() -> None:
        while len(delays) < messages:
            payload = relay.payload(bytes(await agent.recv()))  # type: ignore[arg-type]
            if payload is not None:
                delays.append(time.perf_counter() - _read_stamp(payload)["t"])

    reader = asyncio.create_task(read())
    for n in range(messages):
        await visitor.send(relay.frame(n + 1, _stamp(n, 1024)))
        await asyncio.sleep(0.002)
    await asyncio.wait_for(reader, 60)
    await agent.close()
    await visitor.close()
    delays.sort()
    return delays[len(delays) // 2] * 1000, delays[int(len(delays) * 0.99)] * 1000


# Fan-out: one process per client, so that the load is not the bottleneck. The visitor
# process opens the session and waits; each agent process joins, says "ready", counts the
# page batches and says when the last arrived; the visitor sends when told "go".

async def fan_out_visitor(relay: Relay, messages: int) -> None:
    visitor = await relay.visitor()
    print(json.dumps({"key": getattr(relay, "key", "")}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # "go"
    started = time.perf_counter()
    for n in range(messages):
        await visitor.send(relay.frame(n + 1, _stamp(n, 4096)))
    print(json.dumps({"started": started}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # "done"
    await visitor.close()


async def fan_out_agent(relay: Relay, messages: int) -> None:
    """Count the page batches; a Coview agent acknowledges as the clients do: cumulatively,
    at most once per 5 ms (``coview.protocol.client.ACK_INTERVAL``)."""
    agent = await relay.agent()
    print(json.dumps({"ready": True}), flush=True)
    got, last, acked, acked_at = 0, 0, 0, 0.0
    coview = isinstance(relay, CoviewRelay)
    while got < messages:
        message = await agent.recv()
        if b'"t":"dom"' not in message[:64] and b'"t": "dom"' not in message[:64]:
            continue
        got += 1
        if coview:
            last = int(json.loads(message[2:2 + int.from_bytes(message[:2], "big")])["s"])
            now = time.perf_counter()
            if now - acked_at >= ACK_INTERVAL:
                await agent.send(encode_frame({"t": "ack", "a": last}))
                acked, acked_at = last, now
    ended = time.perf_counter()
    if coview and acked < last:
        await agent.send(encode_frame({"t": "ack", "a": last}))
    print(json.dumps({"ended": ended}), flush=True)
    await agent.close()


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines()
                    if line.startswith("VmRSS")).split()[1]) / 1024


def fan_out(relay_args: list[str], server_pid: int, messages: int) -> tuple[float, float]:
    """Messages a second delivered to all agents, and the server's CPU per delivery (µs)."""
    def spawn(role: str, *extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, __file__, "--client", role, *relay_args,
                                 str(messages), *extra], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)

    def answer(process: subprocess.Popen[str]) -> dict[str, Any]:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("a load process failed (its error is above)")
        result: dict[str, Any] = json.loads(line)
        return result

    visitor = spawn("visitor")
    key = answer(visitor)["key"]
    agents = [spawn("agent", key) for _ in range(FAN_OUT)]
    for agent in agents:
        answer(agent)
    cpu = cpu_seconds(server_pid)
    assert visitor.stdin is not None
    visitor.stdin.write("go\n")
    visitor.stdin.flush()
    started = answer(visitor)["started"]
    ended = max(answer(agent)["ended"] for agent in agents)
    cpu = cpu_seconds(server_pid) - cpu
    visitor.stdin.write("done\n")
    visitor.stdin.flush()
    for process in [visitor, *agents]:
        process.wait(timeout=30)
    return messages / (ended - started), cpu / (messages * FAN_OUT) * 1e6


async def catch_up(relay: Relay) -> float:
    """Milliseconds until an agent has the page: a 1 MiB snapshot and 200 increments."""
    snapshot = json.dumps([{"type": 4}, {"type": 2, "node": "x" * (1024 * 1024)}]).encode()
    increments = [json.dumps([{"type": 3, "n": n}]).encode() for n in range(200)]
    visitor = await relay.visitor()
    frames = [relay.frame(1, snapshot, full=True)]
    frames += [relay.frame(n + 2, p) for n, p in enumerate(increments)]
    if isinstance(relay, CoviewRelay):
        for frame in frames:
            await visitor.send(frame)
        await asyncio.sleep(0.5)  # in the server's buffer
        started = time.perf_counter()
        agent = await relay.agent()
    else:
        # The bare relay keeps nothing: the same bytes forwarded to an agent that waits.
        agent = await relay.agent()
        started = time.perf_counter()
        for frame in frames:
            await visitor.send(frame)
    got = 0
    while got < len(frames):
        if relay.payload(bytes(await agent.recv())) is not None:  # type: ignore[arg-type]
            got += 1
    elapsed = (time.perf_counter() - started) * 1000
    await agent.close()
    await visitor.close()
    return elapsed


def median(values: list[float]) -> float:
    return statistics.median(values)


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as data:
        port, bare_port = free_port(), free_port()
        idle = {"coview": idle_memory(data)}
        coview, password = start_coview(port, data)
        bare = start_bare(bare_port)
        idle["bare"] = rss_mb(bare.pid)
        relays: list[Relay] = [CoviewRelay(port, password), BareRelay(bare_port)]
        relay_args = {"coview": ["coview", str(port), relays[0].token],  # type: ignore[attr-defined]
                      "bare": ["bare", str(bare_port), ""]}
        pids = {"coview": coview.pid, "bare": bare.pid}
        results: dict[str, dict[str, list[float]]] = {r.name: {} for r in relays}

        def note(relay: Relay, name: str, value: float) -> None:
            results[relay.name].setdefault(name, []).append(value)

        try:
            for round_ in range(args.runs):
                for relay in relays if round_ % 2 == 0 else relays[::-1]:
                    p50, p99 = asyncio.run(latency(relay, args.messages))
                    note(relay, "p50", p50)
                    note(relay, "p99", p99)
                    rate, cpu = fan_out(relay_args[relay.name], pids[relay.name],
                                        args.messages)
                    note(relay, "fanout", rate)
                    note(relay, "cpu", cpu)
                    note(relay, "catchup", asyncio.run(catch_up(relay)))
                print(f"run {round_ + 1}: " + "; ".join(
                    f"{r.name} p50 {results[r.name]['p50'][-1]:.3f} ms "
                    f"p99 {results[r.name]['p99'][-1]:.3f} ms "
                    f"fan-out {results[r.name]['fanout'][-1]:.0f} msg/s "
                    f"({results[r.name]['cpu'][-1]:.1f} µs CPU a delivery) "
                    f"catch-up {results[r.name]['catchup'][-1]:.1f} ms" for r in relays),
                    flush=True)
        finally:
            for process in (coview, bare):
                process.terminate()
                process.wait(timeout=20)

    c, b = results["coview"], results["bare"]
    ratio: Callable[[str], float] = lambda k: median(c[k]) / median(b[k])  # noqa: E731
    print(f"\nmedians of {args.runs} runs ({args.messages} messages each):")
    print(f"  latency p50: coview {median(c['p50']):.3f} ms, bare {median(b['p50']):.3f} ms "
          f"-> {ratio('p50'):.2f}x (target <= 1.1x)")
    print(f"  latency p99: coview {median(c['p99']):.3f} ms, bare {median(b['p99']):.3f} ms "
          f"-> {ratio('p99'):.2f}x (target <= 1.3x)")
    print(f"  fan-out to {FAN_OUT} agents: coview {median(c['fanout']):.0f} msg/s, "
          f"bare {median(b['fanout']):.0f} msg/s -> {ratio('fanout'):.2f}x (target >= 0.85x)")
    print(f"  server CPU per delivery in fan-out: coview {median(c['cpu']):.1f} µs, bare "
          f"{median(b['cpu']):.1f} µs -> {ratio('cpu'):.2f}x (target <= 1.2x)")
    print(f"  server memory at start, idle: coview {idle['coview']:.0f} MB, bare "
          f"{idle['bare']:.0f} MB (target: coview <= 60 MB)")
    print(f"  late agent's catch-up (1 MiB snapshot + 200 increments): coview "
          f"{median(c['catchup']):.1f} ms, bare relay forwarding the same "
          f"{median(b['catchup']):.1f} ms -> {ratio('catchup'):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--bare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--client", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        asyncio.run(bare_relay(args.bare))
        return
    if args.client:
        role, kind, port, token, count, *key = args.client
        relay: Relay = CoviewRelay.with_token(int(port), token) if kind == "coview" \
            else BareRelay(int(port))
        if key:
            relay.key = key[0]  # type: ignore[attr-defined]
        asyncio.run(fan_out_visitor(relay, int(count)) if role == "visitor"
                    else fan_out_agent(relay, int(count)))
        return
    run(args)


if __name__ == "__main__":
    main()
