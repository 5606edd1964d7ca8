"""Forged Host and Origin headers, forwarded addresses and malformed frames, against a real
server on every path a client can open: the session socket, the presence socket (on the main
port and on a presence port of its own), the HTTP tunnel and the REST API."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from coview.protocol.frames import decode_frame
from coview.protocol.stream import pack_frames, unpack_frames
from tests.conftest import Figure, Server, free_port, run_async, start_server, wait_until
from tests.helpers import bearer, login

pytestmark = pytest.mark.e2e

TRUSTED = "https://shop.example.com"
HUGE_INT = "9" * 5000  # past Python's 4,300-digit limit for int()


@pytest.fixture(scope="module")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, int]]:
    """A demo server with a presence port of its own; the group trusts one origin."""
    tmp: Path = tmp_path_factory.mktemp("handshakes")
    presence_port = free_port()
    running = start_server(tmp, ["--data-dir", str(tmp / "data"),
                                 "--presence-port", str(presence_port)])
    with running.client() as client:
        auth = bearer(login(client, running.demo_password))
        assert client.patch("/api/v1/settings", headers=auth,
                            json={"trusted_origins": [TRUSTED]}).status_code == 200
        assert client.post("/api/v1/settings/publish", headers=auth).status_code == 200
    yield running, presence_port
    running.stop()


def raw_request(port: int, lines: list[str], body: bytes = b"") -> int:
    """Send an HTTP/1.1 request written by hand (any headers, repeated or forged) and return
    the status code of the answer (0 if the server answered nothing)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def upgrade(port: int, path: str, *, host: str | None, origins: list[str]) -> int:
    """A WebSocket handshake's status (101: accepted) with the given Host and Origin(s)."""
    lines = [f"GET {path} HTTP/1.1", "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += [f"Origin: {origin}" for origin in origins]
    return raw_request(port, lines)


def forged_cases(port: int) -> list[tuple[str | None, list[str]]]:
    """(Host, Origins) pairs no browser of the server or of a trusted site sends."""
    own = f"127.0.0.1:{port}"
    return [
        (own, ["null"]),
        (own, [f"https://127.0.0.1:{port}"]),  # scheme differs
        (own, [f"chrome-extension://127.0.0.1:{port}"]),
        (own, [f"http://127.0.0.1:{port + 1}"]),  # port differs
        (own, [f"http://127.0.0.1.evil.example:{port}"]),  # look-alike
        (own, ["https://shop.example.com.evil.example"]),
        (own, ["https://evil.example/shop.example.com"]),
        (own, ["http://shop.example.com"]),  # the trusted host over another scheme
        (f"evil.example:{port}", [f"http://evil.example:{port}"]),  # DNS rebinding
        (f"evil.example:{port}", []),  # rebinding, a native-looking client
        (None, []),  # no Host at all
        (own, [f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}"]),  # repeated
        (own + "\r\nHost: evil.example", []),  # repeated Host
    ]


def test_forged_origin_and_host_are_refused_on_every_websocket_path(
        hardened: tuple[Server, int], figure: Figure) -> None:
    """Of every forged Origin and Host on the session and presence sockets, none is
    accepted, while the server's own pages, native clients and trusted sites are."""
    server, presence_port = hardened
    port = int(server.base_url.rsplit(":", 1)[1])
    own = f"127.0.0.1:{port}"
    accepted: list[object] = []
    tried = 0
    for path in ("/ws/v1/session", "/ws/v1/presence", "/ws/v1/session?group_id=12345",
                 "/ws/v1/presence?group_id=12345"):
        for host, origins in forged_cases(port):
            tried += 1
            if upgrade(port, path, host=host, origins=origins) == 101:
                accepted.append((path, host, origins))
    for host, origins in forged_cases(presence_port):
        tried += 1
        if upgrade(presence_port, "/ws/v1/presence", host=host, origins=origins) == 101:
            accepted.append(("presence port", host, origins))
    figure("WebSocket handshakes with a forged Origin or Host accepted (session, presence, "
           "presence port)", f"{len(accepted)} of {tried}", "0")
    assert accepted == []
    # What must keep working: native clients, the console's pages (any case), trusted sites.
    assert upgrade(port, "/ws/v1/session", host=own, origins=[]) == 101
    assert upgrade(port, "/ws/v1/session", host=f"localhost:{port}", origins=[]) == 101
    assert upgrade(port, "/ws/v1/session", host=own, origins=[f"http://{own}"]) == 101
    assert upgrade(port, "/ws/v1/session", host=own, origins=[f"HTTP://{own.upper()}"]) == 101
    assert upgrade(port, "/ws/v1/session?group_id=12345", host=own, origins=[TRUSTED]) == 101
    assert upgrade(port, "/ws/v1/presence?group_id=12345", host=own, origins=[TRUSTED]) == 101
    assert upgrade(presence_port, "/ws/v1/presence", host=f"127.0.0.1:{presence_port}",
                   origins=[]) == 101
    assert "Fatal error" not in server.logs()
    assert "Traceback" not in server.logs()


def test_forged_host_and_origin_are_refused_on_http_paths(hardened: tuple[Server, int],
                                                          figure: Figure) -> None:
    """A rebinding Host gets 400 on the API, the console and the tunnel; a browser at a
    look-alike origin cannot open a tunnel or read the group's cobrowse settings."""
    server, _ = hardened
    port = int(server.base_url.rsplit(":", 1)[1])
    own = f"127.0.0.1:{port}"
    refused = 0
    paths = ["GET /api/v1/openapi.json", "GET /agent/", "GET /api/v1/cobrowse/12345/config",
             "POST /tunnel/v1"]
    for request in paths:
        method, path = request.split()
        extra = ["Content-Length: 0"] if method == "POST" else []
        for host in (f"evil.example:{port}", f"127.0.0.1.evil.example:{port}"):
            status = raw_request(port, [f"{method} {path} HTTP/1.1", f"Host: {host}",
                                        "Connection: close", *extra])
            refused += status == 400
        status = raw_request(port, [f"{method} {path} HTTP/1.1", f"Host: {own}",
                                    f"Host: {own}", "Connection: close", *extra])
        refused += status == 400
    figure("HTTP requests with a rebinding or repeated Host answered (API, console, "
           "cobrowse settings, tunnel)", f"{len(paths) * 3 - refused} of {len(paths) * 3}", "0")
    assert refused == len(paths) * 3
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        for origin in (f"https://{own}", "null", f"chrome-extension://{own}",
                       "https://shop.example.com.evil.example"):
            tunnel = client.post("/tunnel/v1", headers={"Origin": origin})
            assert tunnel.status_code == 403, origin
            config = client.get("/api/v1/cobrowse/12345/config", headers={"Origin": origin})
            assert config.status_code == 403, origin
        assert client.post("/tunnel/v1").status_code == 201  # a native client
        config = client.get("/api/v1/cobrowse/12345/config", headers={"Origin": TRUSTED})
        assert config.status_code == 200
        assert client.get("/healthz", headers={"Host": "10.0.0.7:8700"}).status_code == 200


def test_frames_with_huge_numbers_are_refused_with_one_line(hardened: tuple[Server, int],
                                                            figure: Figure) -> None:
    """A frame header holding a 5,000-digit number is answered with a refusal on the session
    socket, the presence socket and the tunnel, and leaves no traceback in the log."""
    server, _ = hardened
    ws = server.base_url.replace("http://", "ws://")
    frame = (b'{"t":"start","v":"1.0","group_id":' + HUGE_INT.encode() + b"}")
    raw = len(frame).to_bytes(2, "big") + frame

    async def over_socket(path: str) -> dict[str, object]:
        async with connect(ws + path) as sock:
            await sock.send(raw)
            return decode_frame(await asyncio.wait_for(sock.recv(), 10), max_bytes=1 << 20).header

    session = run_async(over_socket("/ws/v1/session"))
    presence = run_async(over_socket("/ws/v1/presence"))
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        tunnel_id = client.post("/tunnel/v1").json()["tunnel"]
        assert client.post(f"/tunnel/v1/{tunnel_id}/send",
                           content=pack_frames([raw])).status_code < 300
        answer = client.get(f"/tunnel/v1/{tunnel_id}/recv")
        tunnelled = decode_frame(unpack_frames(answer.content, max_frame=1 << 20)[0],
                                 max_bytes=1 << 20).header
    refusals = sum(h.get("code") == "protocol_error" for h in (session, presence, tunnelled))
    figure("frames with a 5,000-digit number refused with protocol_error (session, presence, "
           "tunnel)", f"{refusals} of 3", "3 of 3, no traceback")
    for header in (session, presence, tunnelled):
        assert header["t"] in ("refused", "error"), header
        assert header["code"] == "protocol_error", header
    wait_until(lambda: server.logs().count("frame header is not JSON") >= 3, timeout=10,
               what="one log line per refused frame")
    assert "Traceback" not in server.logs()
    assert "ValueError" not in server.logs()


def test_forwarded_for_is_believed_only_from_named_proxies(tmp_path: Path,
                                                           figure: Figure) -> None:
    """Without --forwarded-allow-ips, X-Forwarded-For does not change the address the audit
    log and throttles see; from a proxy named with it, it does."""
    plain = start_server(tmp_path, ["--data-dir", str(tmp_path / "plain")])
    proxied = start_server(tmp_path, ["--data-dir", str(tmp_path / "proxied"),
                                      "--forwarded-allow-ips", "127.0.0.1"])
    try:
        seen = {}
        for name, server in (("plain", plain), ("proxied", proxied)):
            with server.client() as client:
                client.post("/api/v1/auth/login", headers={"X-Forwarded-For": "203.0.113.9"},
                            json={"group_id": 12345, "username": "demo", "password": "wrong"})
                auth = bearer(login(client, server.demo_password))
                entries = client.get("/api/v1/audit?limit=10", headers=auth).json()["entries"]
                seen[name] = next(e["address"] for e in entries
                                  if e["action"] == "login_failed")
        figure("X-Forwarded-For believed from a proxy not named",
               "no" if seen["plain"] == "127.0.0.1" else "yes", "no")
        assert seen == {"plain": "127.0.0.1", "proxied": "203.0.113.9"}
    finally:
        plain.stop()
        proxied.stop()

