"""Fixtures that start real ``coview serve`` processes on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright

T = TypeVar("T")

POSTGRES_ADMIN_DSN = os.environ.get(
    "COVIEW_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SECRET_KEY = "test-secret-key-" + "x" * 32
BACKENDS = ["sqlite", "postgresql"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_coview(*args: str, env: dict[str, str] | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the ``coview`` command line in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "coview", *args], capture_output=True, text=True,
        timeout=timeout, env={**os.environ, "COVIEW_SECRET_KEY": SECRET_KEY, **(env or {})},
        check=False,
    )


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a thread of its own (the main thread may already run
    Playwright's event loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def wait_until(condition: object, *, timeout: float = 20, what: str = "condition") -> None:
    """Poll ``condition()`` until it is true; fail after ``timeout`` seconds."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class PostgresDatabases:
    """Creates throw-away databases on the PostgreSQL server running here."""

    created: list[str] = field(default_factory=list)

    def create(self) -> str:
        name = f"coview_test_{secrets.token_hex(6)}"

        async def make() -> None:
            conn = await asyncpg.connect(POSTGRES_ADMIN_DSN)
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        run_async(make())
        self.created.append(name)
        base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://",
                                                              "postgresql+asyncpg://")
        return f"{base}/{name}"

    def drop_all(self) -> None:
        async def drop() -> None:
            conn = await asyncpg.connect(POSTGRES_ADMIN_DSN)
            try:
                for name in self.created:
                    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()

        run_async(drop())


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases()
    yield databases
    databases.drop_all()


@pytest.fixture(params=BACKENDS)
def database_args(request: pytest.FixtureRequest, tmp_path: Path,
                  postgres: PostgresDatabases) -> list[str]:
    """Command-line options naming a fresh database of each backend."""
    if request.param == "sqlite":
        return ["--data-dir", str(tmp_path / "data")]
    return ["--data-dir", str(tmp_path / "data"), "--database-url", postgres.create()]


@dataclass
class Server:
    """A running ``coview serve --demo`` process."""

    process: subprocess.Popen[str]
    base_url: str
    stdout_path: Path
    stderr_path: Path
    demo_password: str = ""
    demo_api_key: str = ""

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30)

    def logs(self) -> str:
        return self.stderr_path.read_text()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                return self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                return self.process.wait()
        return self.process.returncode


def start_server(tmp_path: Path, extra_args: list[str], *, env: dict[str, str] | None = None,
                 demo: bool = True) -> Server:
    port = free_port()
    stdout_path, stderr_path = tmp_path / f"serve-{port}.out", tmp_path / f"serve-{port}.err"
    args = [sys.executable, "-m", "coview", "serve", "--port", str(port), *extra_args]
    if demo:
        args.append("--demo")
    with stdout_path.open("w") as out, stderr_path.open("w") as err:
        process = subprocess.Popen(
            args, stdout=out, stderr=err, text=True,
            env={**os.environ, "COVIEW_SECRET_KEY": SECRET_KEY, **(env or {})},
        )
    server = Server(process, f"http://127.0.0.1:{port}", stdout_path, stderr_path)

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}: "
                                 f"{stderr_path.read_text()[-2000:]}")
        try:
            return httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(healthy, timeout=60, what="the server to answer /healthz")
    if demo:
        text = stdout_path.read_text()
        password = re.search(r"username demo, password (\S+)", text)
        assert password, text
        server.demo_password = password.group(1)
        api_key = re.search(r"API key \(shown once\): (\S+)", text)
        server.demo_api_key = api_key.group(1) if api_key else ""
    return server


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 # getUserMedia and getDisplayMedia without prompts, from synthetic devices
                 "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 # customer sites on their own origins (shop.test, evil.test...) on loopback
                 "--host-resolver-rules=MAP *.test 127.0.0.1"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, driven by Playwright (never a downloaded browser).

    Module-scoped: Playwright's synchronous API runs an event loop on the main thread while it
    is open, which would stop later tests from using ``asyncio.run``.
    """
    assert Path(CHROMIUM).exists(), "install Debian's chromium (bash .ci/run does)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           postgres: PostgresDatabases) -> Iterator[Server]:
    """A demo server per test module and backend."""
    tmp = tmp_path_factory.mktemp("server")
    args = ["--data-dir", str(tmp / "data")]
    if request.param == "postgresql":
        args += ["--database-url", postgres.create()]
    running = start_server(tmp, args)
    yield running
    running.stop()


FIGURES: list[dict[str, object]] = []
Figure = Callable[[str, object, str], None]


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Figure:
    """Record a figure a security or fault test asserts (``what``, the measured ``value``,
    the ``promise`` it is held to); ``COVIEW_FIGURES=path`` writes them all as JSON at the
    end of the run, for scripts/security_figures.py to print into docs/security.md."""

    def record(what: str, value: object, promise: str) -> None:
        FIGURES.append({"test": request.node.nodeid, "what": what, "value": value,
                        "promise": promise})

    return record


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get("COVIEW_FIGURES")
    if path:
        Path(path).write_text(json.dumps(FIGURES, indent=1))


SDK_THREADS = ("coview-agent", "coview-visitor", "coview-child-host")


@pytest.fixture(autouse=True)
def sdk_objects_closed() -> Iterator[None]:
    """Each test closes the SDK objects it made (a session left running keeps a thread and,
    while it reconnects, sockets into later tests); and what it leaked is collected here, so
    an unclosed-resource warning is blamed on the test that leaked it, not a later one."""
    import gc
    import threading

    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while True:
        left = [t.name for t in set(threading.enumerate()) - before
                if t.is_alive() and t.name.startswith(SDK_THREADS)]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    gc.collect()
    assert not left, f"SDK objects left running by this test: {left}"
