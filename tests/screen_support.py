"""Support for screen share tests: a virtual display, a test application, a tapping proxy."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import mss
import numpy as np
import websockets
from playwright.sync_api import Page, expect
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

import coview
from coview import EventCode
from coview.protocol.frames import Frame, decode_frame
from tests.apps.board import GEOMETRY
from tests.conftest import Server, run_coview, wait_until
from tests.helpers import bearer, login

APPS = Path(__file__).parent / "apps"


@contextlib.contextmanager
def xvfb(width: int = 1280, height: int = 800) -> Iterator[str]:
    """A virtual X display; yields its name (``:N``)."""
    binary = shutil.which("Xvfb")
    assert binary, "install Debian's xvfb (bash .ci/run does)"
    for number in range(90, 140):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and \
                not Path(f"/tmp/.X{number}-lock").exists():
            break
    display = f":{number}"
    process = subprocess.Popen([binary, display, "-screen", "0", f"{width}x{height}x24",
                                "-nolisten", "tcp"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    def started() -> bool:
        assert process.poll() is None, "Xvfb exited"
        return Path(f"/tmp/.X11-unix/X{number}").exists()

    wait_until(started, timeout=10, what="Xvfb")
    try:
        yield display
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def x_display() -> Iterator[str]:
    """A virtual X display set as ``DISPLAY`` while it runs (the previous one put back)."""
    with xvfb() as name:
        previous = os.environ.get("DISPLAY")
        os.environ["DISPLAY"] = name
        try:
            yield name
        finally:
            if previous is None:
                del os.environ["DISPLAY"]
            else:
                os.environ["DISPLAY"] = previous


class Board:
    """The Tk test application (tests/apps/board.py) on the virtual display."""

    def __init__(self, display: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(APPS / "board.py")], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, env={**os.environ, "DISPLAY": display})
        self.lines: list[str] = []
        self._seen = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_line("ready")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._seen:
                self.lines.append(line.strip())
                self._seen.notify_all()

    def wait_line(self, text: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        with self._seen:
            while True:
                for line in self.lines:
                    if line.startswith(text):
                        self.lines.remove(line)
                        return line
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"the board never printed {text!r}: {self.lines}"
                self._seen.wait(remaining)

    def command(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        self.wait_line(f"done {line.split()[0]}")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            assert self.process.stdin is not None
            self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@dataclass
class TapProxy:
    """A WebSocket proxy on loopback between a client and the server.

    It records every frame the client sends and receives (the tap), can cut the connections
    it carries (a dropped network), can refuse new ones (a network that is gone), and can hold
    new ones in their handshake until released (a network that comes back later).
    """

    target: str  # the server's base URL, http://host:port
    sent: list[bytes] = field(default_factory=list)
    received: list[bytes] = field(default_factory=list)
    refuse: bool = False
    port: int = 0

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._links: set[tuple[ServerConnection, object]] = set()
        self._lock = threading.Lock()
        self._open = asyncio.Event()  # cleared by hold(): new connections wait for it
        self._open.set()
        self._trigger: Callable[[Frame, bool], bool] | None = None
        self.trips = 0  # cuts made by cut_when
        started = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.port = started.result(timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _start(self) -> int:
        self._server = await serve(self._handle, "127.0.0.1", 0, max_size=None,
                                   compression=None, process_request=self._check)
        return int(self._server.sockets[0].getsockname()[1])

    async def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        await self._open.wait()
        if self.refuse:
            return connection.respond(503, "the network is down\n")
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return await self._forward_http(request)
        return None

    async def _forward_http(self, request: Request) -> Response:
        """A plain GET (a browser reading a script or the cobrowse settings): passed on."""
        sent = {k: v for k, v in request.headers.raw_items() if k.lower() in ("origin", "accept")}
        async with httpx.AsyncClient(base_url=self.target) as client:
            answer = await client.get(request.path, headers=sent)
        keep = ("content-type", "access-control-allow-origin", "vary", "cache-control")
        headers = Headers([(k, v) for k, v in answer.headers.items() if k.lower() in keep])
        headers["Content-Length"] = str(len(answer.content))
        return Response(answer.status_code, answer.reason_phrase, headers, answer.content)

    async def _handle(self, client: ServerConnection) -> None:
        path = client.request.path if client.request else "/ws/v1/session"
        upstream_url = self.target.replace("http://", "ws://") + path
        try:
            upstream = await connect(upstream_url, max_size=None, compression=None,
                                     origin=client.request.headers.get("Origin")  # type: ignore[arg-type]
                                     if client.request else None)
        except OSError:
            return
        link = (client, upstream)
        self._links.add(link)

        async def forward(source: object, sink: object, tap: list[bytes]) -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                async for message in source:  # type: ignore[attr-defined]
                    if isinstance(message, bytes):
                        with self._lock:
                            tap.append(message)
                    await sink.send(message)  # type: ignore[attr-defined]
                    if isinstance(message, bytes) and self._tripped(message, tap is self.sent):
                        self._abort_all()

        tasks = [asyncio.create_task(forward(client, upstream, self.sent)),
                 asyncio.create_task(forward(upstream, client, self.received))]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        self._links.discard(link)
        await upstream.close()
        await client.close()

    def cut(self) -> None:
        """Drop every connection carried now, abruptly."""
        async def drop() -> None:
            for client, upstream in list(self._links):
                client.transport.abort()
                upstream.transport.abort()  # type: ignore[attr-defined]
        asyncio.run_coroutine_threadsafe(drop(), self._loop).result(timeout=10)

    def _abort_all(self) -> None:
        for client, upstream in list(self._links):
            client.transport.abort()
            upstream.transport.abort()  # type: ignore[attr-defined]

    def cut_when(self, condition: Callable[[Frame, bool], bool]) -> None:
        """Cut every connection right after the first frame for which ``condition(frame,
        from_client)`` holds has been passed on (once): a drop at an exact point of the
        conversation, such as before the frame's acknowledgement can come back."""
        async def arm() -> None:
            self._trigger = condition
        asyncio.run_coroutine_threadsafe(arm(), self._loop).result(timeout=10)

    def _tripped(self, data: bytes, from_client: bool) -> bool:
        condition = self._trigger
        if condition is None or not condition(decode_frame(data, max_bytes=len(data)),
                                              from_client):
            return False
        self._trigger = None
        self.trips += 1
        return True

    def hold(self) -> None:
        """Keep new connections waiting in their handshake until :meth:`release`."""
        asyncio.run_coroutine_threadsafe(self._set_open(False), self._loop).result(timeout=10)

    def release(self) -> None:
        """Let held and new connections through again."""
        asyncio.run_coroutine_threadsafe(self._set_open(True), self._loop).result(timeout=10)

    async def _set_open(self, value: bool) -> None:
        if value:
            self._open.set()
        else:
            self._open.clear()

    def inject(self, data: bytes) -> None:
        """Send ``data`` to the clients as if the server had sent it (a corrupted stream)."""
        async def send() -> None:
            for client, _ in list(self._links):
                await client.send(data)
        asyncio.run_coroutine_threadsafe(send(), self._loop).result(timeout=10)

    def frames(self) -> list[Frame]:
        """What the clients sent."""
        with self._lock:
            return [decode_frame(data, max_bytes=len(data)) for data in self.sent]

    def frames_received(self) -> list[Frame]:
        """What the server sent the clients."""
        with self._lock:
            return [decode_frame(data, max_bytes=len(data)) for data in self.received]

    def close(self) -> None:
        async def stop() -> None:
            for client, upstream in list(self._links):
                client.transport.abort()
                upstream.transport.abort()  # type: ignore[attr-defined]
            self._server.close()
            await self._server.wait_closed()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


def region(picture: np.ndarray, box: tuple[int, int, int, int], inset: int = 6) -> np.ndarray:
    """The part of a picture of the screen where the test board's ``box`` is."""
    x0, y0, x1, y1 = box
    gx, gy = GEOMETRY[:2]
    return picture[gy + y0 + inset:gy + y1 - inset, gx + x0 + inset:gx + x1 - inset]


def mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two RGB pictures of one size."""
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def color_distance(picture: np.ndarray, rgb: tuple[int, int, int]) -> float:
    """Mean absolute difference of a picture from a flat colour."""
    return float(np.abs(picture.astype(np.int16) - np.array(rgb, dtype=np.int16)).mean())


class NoWebSocketProxy:
    """An HTTP reverse proxy on loopback that refuses WebSocket upgrades (like some corporate
    proxies) and forwards every plain HTTP request to the server."""

    def __init__(self, target: str) -> None:
        import httpx
        import uvicorn

        from tests.conftest import free_port

        self.port = free_port()
        self.refused_upgrades = 0
        client = httpx.AsyncClient(base_url=target, timeout=60)

        async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
            if scope["type"] == "lifespan":
                message = await receive()  # type: ignore[operator]
                await send({"type": "lifespan.startup.complete"})  # type: ignore[operator]
                await receive()  # type: ignore[operator]
                await client.aclose()
                await send({"type": "lifespan.shutdown.complete"})  # type: ignore[operator]
                return
            if scope["type"] == "websocket":
                self.refused_upgrades += 1
                await send({"type": "websocket.close", "code": 1008})  # type: ignore[operator]
                return
            body = b""
            while True:
                message = await receive()  # type: ignore[operator]
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            url = scope["path"] + ("?" + scope["query_string"].decode()
                                   if scope["query_string"] else "")
            upstream = await client.request(scope["method"], url, content=body)
            await send({"type": "http.response.start",  # type: ignore[operator]
                        "status": upstream.status_code,
                        "headers": [(b"content-type",
                                     upstream.headers.get("content-type", "").encode())]})
            await send({"type": "http.response.body",  # type: ignore[operator]
                        "body": upstream.content})

        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                     log_level="error", lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_until(lambda: self._server.started, timeout=10, what="the proxy")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


GROUP = 12345  # the demo group


def new_group(server: Server, group_id: int, *, database_url: str = "",
              **settings: object) -> str:
    """A fresh group with an admin, its production settings changed; returns the password."""
    data = ["--data-dir", str(server.data_dir)]  # type: ignore[attr-defined]
    if database_url:
        data += ["--database-url", database_url]
    made = run_coview("admin", "create-group", "--group-id", str(group_id), "--name", "t",
                      *data)
    assert made.returncode == 0, made.stderr
    agent = run_coview("admin", "create-agent", "--group-id", str(group_id), "--username",
                       "boss", "--role", "admin", "--json", *data)
    password: str = json.loads(agent.stdout)["password"]
    if settings:
        with server.client() as client:
            auth = bearer(login(client, password, username="boss", group_id=group_id))
            assert client.patch("/api/v1/settings", headers=auth,
                                json=settings).status_code == 200
            assert client.post("/api/v1/settings/publish", headers=auth).status_code == 200
    return password


def visitor_token(server: Server, group_id: int, visitor_id: str, *,
                  database_url: str = "") -> str:
    """A visitor token for ``visitor_id``, minted as the customer's backend would (groups
    require one for visitor IDs by default)."""
    data = ["--data-dir", str(server.data_dir)]  # type: ignore[attr-defined]
    if database_url:
        data += ["--database-url", database_url]
    minted = run_coview("admin", "visitor-token", "--group-id", str(group_id), "--visitor-id",
                        visitor_id, *data)
    assert minted.returncode == 0, minted.stderr
    return minted.stdout.strip()


def make_visitor(visitors: list[coview.Visitor], url: str, group: int = GROUP,
                 **init: str) -> coview.Visitor:
    visitor = coview.Visitor(url)
    visitors.append(visitor)
    visitor.default_ui(False)
    visitor.init(group, **init)
    visitor.wait_for(EventCode.VISITOR_INITIALIZED)
    return visitor


def started(visitor: coview.Visitor, arg: object = None) -> str:
    visitor.start_session(arg)  # type: ignore[arg-type]
    return visitor.wait_for(EventCode.CONNECTED_TO_SESSION).properties["sessionkey"]


def ended(visitor: coview.Visitor, timeout: float = 15) -> str:
    return visitor.wait_for(EventCode.SESSION_ENDED, timeout).properties["reason"]


def real_screen() -> np.ndarray:
    with mss.MSS() as grabber:
        shot = grabber.grab(grabber.monitors[1])
        return np.asarray(shot)[..., 2::-1]


def console_sign_in(page: Page, server: Server) -> None:
    """Sign in to the agent console as the demo agent."""
    page.goto(f"{server.base_url}/agent/")
    page.get_by_test_id("signin-group").fill(str(GROUP))
    page.get_by_test_id("signin-username").fill("demo")
    page.get_by_test_id("signin-password").fill(server.demo_password)
    page.get_by_test_id("signin-submit").click()


def console_join(page: Page, server: Server, key: str) -> None:
    """Sign in to the agent console as the demo agent and join the session ``key``."""
    console_sign_in(page, server)
    page.get_by_test_id("join-key").fill(key)
    page.get_by_test_id("join-submit").click()
    expect(page.get_by_test_id("session-status")).to_contain_text(f"In session {key}")


def click_widget(visitor: coview.Visitor, name: str, display: str) -> None:
    """Click a button of the SDK's default window with the real pointer (xdotool)."""
    wait_until(lambda: visitor.ui is not None, timeout=10, what="the SDK's window")
    ui = visitor.ui
    assert ui is not None
    wait_until(lambda: ui.widget(name)["shown"], timeout=10, what=f"the {name!r} button")
    widget = ui.widget(name)
    subprocess.run(["xdotool", "mousemove", str(widget["x"]), str(widget["y"]), "click", "1"],
                   check=True, env={**os.environ, "DISPLAY": display})


def coview_share(server: Server, display: str, *args: str) -> subprocess.Popen[str]:
    """``coview share`` against ``server`` on the virtual display, its output piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "coview", "share", "--server", server.base_url, "--group-id",
         str(GROUP), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "DISPLAY": display})


@contextlib.contextmanager
def running(process: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """Kill ``process`` on the way out if it is still running (a test failed midway)."""
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def exit_output(process: subprocess.Popen[str]) -> str:
    """Wait for ``process`` to exit by itself; assert it exited 0; return its remaining output."""
    rest, errors = process.communicate(timeout=20)
    assert process.returncode == 0, errors
    return rest


def read_until(process: subprocess.Popen[str], prefix: str) -> str:
    """Read the process's output up to the first line starting with ``prefix``; return it."""
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith(prefix):
            return line
    raise AssertionError(f"no line starting with {prefix!r} in {lines}")
