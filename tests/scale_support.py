"""Parts of a scaled-out deployment on loopback: a private Redis that a test may kill and
restart, a private PostgreSQL that a test may stop and start, and a load balancer without
sticky sessions (each new connection to the next server, skipping those that refuse it)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from tests.conftest import free_port, wait_until


class RedisServer:
    """``redis-server`` on a port of its own, nothing on disk."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._answers, timeout=10, what="redis-server to answer")

    def _answers(self) -> bool:
        with contextlib.suppress(OSError), \
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


class RedisMonitor:
    """Everything a Redis server is told while it runs (``MONITOR``: every command with its
    arguments, published messages included), and at the end every value it holds."""

    def __init__(self, redis: RedisServer) -> None:
        self.redis = redis
        self.seen = bytearray()
        self._sock = socket.create_connection(("127.0.0.1", redis.port), timeout=10)
        self._sock.sendall(b"MONITOR\r\n")
        assert self._sock.recv(5) == b"+OK\r\n"
        self._sock.settimeout(None)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with contextlib.suppress(OSError):
            while data := self._sock.recv(65536):
                self.seen += data

    def stop(self) -> bytes:
        """What was seen, then a dump of every key's value."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(timeout=5)
        return bytes(self.seen) + self.dump()

    def dump(self) -> bytes:
        import redis  # the tests' own client; the server uses redis.asyncio

        client = redis.Redis(port=self.redis.port)
        readers: dict[Any, Callable[[Any], object]] = {
            b"string": client.get, b"hash": client.hgetall, b"set": client.smembers,
            b"list": lambda key: client.lrange(key, 0, -1),
            b"zset": lambda key: client.zrange(key, 0, -1), b"stream": client.xrange}
        values: list[object] = []
        for key in client.scan_iter(count=1000):
            read = readers.get(client.type(key))
            values += [key, read(key) if read is not None else None]
        client.close()
        return repr(values).encode()


class PrivatePostgres:
    """A PostgreSQL cluster of its own (run as the ``postgres`` user), to stop and start."""

    BIN = Path("/usr/lib/postgresql/15/bin")

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="coview-pg-", dir="/tmp"))
        shutil.chown(self.dir, user="postgres")  # it runs as postgres
        self.data = self.dir / "data"
        self._as_postgres(str(self.BIN / "initdb"), "-D", str(self.data), "-A", "trust",
                          "-U", "postgres", "--no-sync")
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self) -> None:
        self._as_postgres(str(self.BIN / "pg_ctl"), "-D", str(self.data), "-w", "-l",
                          str(self.dir / "log"), "-o",
                          f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                          "-c fsync=off", "start")

    def stop(self) -> None:
        self._as_postgres(str(self.BIN / "pg_ctl"), "-D", str(self.data), "-w", "-m", "fast",
                          "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Balancer:
    """A TCP load balancer on loopback: round robin, no stickiness, skips a dead server."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = list(backends)
        self.port = free_port()
        self._next = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._call(self._start()).result(timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _call(self, coro: Awaitable[Any]) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        for _ in range(len(self.backends)):
            port = self.backends[self._next % len(self.backends)]
            self._next += 1
            with contextlib.suppress(OSError):
                upstream = await asyncio.open_connection("127.0.0.1", port)
                break
        if upstream is None:
            writer.close()
            return
        up_reader, up_writer = upstream

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            with contextlib.suppress(OSError, RuntimeError):
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def close(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._call(stop()).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


def eventually(check: Callable[[], bool], *, timeout: float = 30, what: str) -> None:
    """Wait for ``check`` (which may raise while it does not hold yet)."""
    def holds() -> bool:
        try:
            return check()
        except Exception:
            return False
    wait_until(holds, timeout=timeout, what=what)

