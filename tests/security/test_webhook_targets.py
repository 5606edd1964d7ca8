"""Webhooks to internal addresses (issue 14, hole 3): the address and URL rule, refusals when
settings are saved and published, refusals when a webhook is sent (a name resolving to
loopback, a target saved while private webhooks were allowed), and redirects not followed.

Every security test counts what got through ("accepted", "posted", "connections") out of the
cases it tried, and asserts that count is 0.
"""

from __future__ import annotations

import ipaddress
import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from coview.errors import InvalidInput
from coview.protocol.frames import decode_frame, encode_frame
from coview.server.egress import (
    refusal,
    resolve_allowed,
    target_refusal,
    url_refusal,
)
from coview.server.egress_transport import EgressTransport
from tests.conftest import Figure, Server, run_async, start_server, wait_until
from tests.helpers import bearer, error_code, login

# Addresses webhooks must never reach, by range (each range several times, IPv6 forms too).
INTERNAL: dict[str, list[str]] = {
    "loopback": ["127.0.0.1", "127.0.0.2", "127.1.2.3", "127.255.255.254", "::1"],
    "private": ["10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.254", "192.168.0.1",
                "192.168.255.255"],
    "unique local": ["fc00::1", "fd12:3456:789a::1", "fdff:ffff::1"],
    "link-local and cloud metadata": ["169.254.0.1", "169.254.169.254", "169.254.170.2",
                                      "169.254.255.255", "fe80::1", "fe80::1%1",
                                      "febf:ffff::1", "fd00:ec2::254"],
    "carrier-grade NAT": ["100.64.0.1", "100.100.100.200", "100.127.255.254"],
    "this network and unspecified": ["0.0.0.0", "0.0.0.1", "0.255.255.255",  # noqa: S104
                                     "::"],
    "multicast": ["224.0.0.1", "239.255.255.250", "ff02::1", "ff05::1:3"],
    "reserved and broadcast": ["240.0.0.1", "255.255.255.254", "255.255.255.255",
                               "192.0.0.8", "198.18.0.1", "192.0.2.1", "198.51.100.1",
                               "203.0.113.1", "2001:db8::1", "100::1", "fec0::1"],
    "IPv6 forms of IPv4": ["::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:10.0.0.1",
                           "::ffff:169.254.169.254", "::ffff:0.0.0.0", "::127.0.0.1",
                           "64:ff9b::127.0.0.1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::a00:1",
                           "2002:7f00:1::1", "2002:a9fe:a9fe::", "2001:0:4136:e378::1"],
}
INTERNAL_ADDRESSES = [address for addresses in INTERNAL.values() for address in addresses]
PUBLIC_ADDRESSES = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "151.101.1.69", "100.63.255.255",
                    "100.128.0.1", "172.32.0.1", "169.253.255.255", "2606:4700::1",
                    "2001:4860:4860::8888", "2a00:1450:4001:80b::200e", "::ffff:93.184.216.34",
                    "64:ff9b::5db8:d822", "2002:5db8:d822::1"]
# Names glibc resolves to loopback without DNS: the name, and IPv4 in other notations.
LOOPBACK_NAMES = ["localhost", "2130706433", "127.1", "0x7f000001", "017700000001"]

START = encode_frame({"t": "start", "v": "1.0", "group_id": 12345, "key_kind": "random",
                      "session_type": "cobrowse"})


# ---- the rule, without a network ---------------------------------------------------------


def test_internal_addresses_are_refused() -> None:
    """Of the loopback, private, link-local, metadata, CGNAT, unspecified, multicast and
    reserved addresses and their IPv6 forms, none is allowed."""
    accepted = [a for a in INTERNAL_ADDRESSES if refusal(ipaddress.ip_address(a)) is None]
    assert len(INTERNAL_ADDRESSES) == 56
    assert len(accepted) == 0, f"internal addresses accepted: {len(accepted)} of " \
                               f"{len(INTERNAL_ADDRESSES)}: {accepted}"


def test_each_refusal_says_which_range() -> None:
    """A refusal names the range: loopback, private, link-local, or an IPv6 form of one."""
    assert refusal(ipaddress.ip_address("127.0.0.1")) == "a loopback address"
    assert refusal(ipaddress.ip_address("10.1.2.3")) == "a private address"
    assert "metadata" in str(refusal(ipaddress.ip_address("169.254.169.254")))
    assert refusal(ipaddress.ip_address("::ffff:127.0.0.1")) == \
        "an IPv6 form of a loopback address"
    assert refusal(ipaddress.ip_address("fd00:ec2::254")) == "a unique local (private) address"


def test_public_addresses_are_allowed() -> None:
    """Public IPv4 and IPv6 addresses, and the IPv6 forms of public IPv4 ones, are allowed."""
    refused = [a for a in PUBLIC_ADDRESSES if refusal(ipaddress.ip_address(a)) is not None]
    assert refused == []


def test_url_rule() -> None:
    """Webhook URLs are https with a host and no credentials, unless private webhooks are
    allowed, when http is too."""
    bad = ["http://93.184.216.34/hooks", "ftp://example.com/", "https://user:pw@example.com/",
           "https://user@example.com/", "https:///path", "https://127.0.0.1/",
           "https://10.0.0.1/", "https://169.254.169.254/latest/meta-data",
           "https://[::1]/", "https://[::ffff:127.0.0.1]/", "https://[fd00:ec2::254]/",
           "https://example.com:99999/"]
    accepted = [url for url in bad if url_refusal(url, allow_private=False) is None]
    assert len(accepted) == 0, f"bad URLs accepted: {len(accepted)} of {len(bad)}: {accepted}"
    assert url_refusal("https://example.com/hooks", allow_private=False) is None
    assert url_refusal("https://93.184.216.34:8443/hooks", allow_private=False) is None
    assert url_refusal("http://127.0.0.1:9/hooks", allow_private=True) is None
    assert url_refusal("http://10.0.0.1/hooks", allow_private=True) is None
    assert url_refusal("http://u:p@10.0.0.1/", allow_private=True) is not None


def test_names_resolving_to_loopback_are_refused() -> None:
    """A name that resolves to loopback (localhost, or IPv4 written as one number, in short
    form, in hex, in octal) is refused; a name that resolves nowhere yet is not."""
    urls = [f"https://{name}/hooks" for name in LOOPBACK_NAMES]
    answers = [run_async(target_refusal(url, allow_private=False)) for url in urls]
    accepted = [url for url, why in zip(urls, answers, strict=True) if why is None]
    assert len(accepted) == 0, f"loopback names accepted: {len(accepted)} of {len(urls)}"
    assert all("loopback" in str(why) for why in answers), answers
    assert run_async(target_refusal("https://coview-test.invalid/", allow_private=False)) \
        is None
    assert run_async(target_refusal("http://localhost/", allow_private=True)) is None


def test_send_time_lookup_refuses_a_name_resolving_to_loopback() -> None:
    """The lookup the sender makes as it connects refuses localhost, naming the address."""
    with pytest.raises(InvalidInput) as refused:
        run_async(resolve_allowed("localhost", 443, allow_private=False))
    assert "localhost resolves to" in refused.value.fields["url"]
    assert "loopback" in refused.value.fields["url"]
    allowed = run_async(resolve_allowed("localhost", 443, allow_private=True))
    assert ipaddress.ip_address("127.0.0.1") in allowed


# ---- receivers -------------------------------------------------------------------------


class Hook:
    """A webhook receiver on 127.0.0.1: counts TCP connections and keeps requests; answers 204,
    or 302 to ``redirect_to``; speaks TLS when given a certificate and key."""

    def __init__(self, *, redirect_to: str = "", tls: tuple[Path, Path] | None = None) -> None:
        self.connections = 0
        self.requests: list[tuple[str, bytes]] = []  # (method, body)
        lock = threading.Lock()
        outer = self

        class Counting(ThreadingHTTPServer):
            def verify_request(self, request: Any, client_address: Any) -> bool:
                with lock:
                    outer.connections += 1
                return True

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with lock:
                    outer.requests.append((self.command, body))
                self.send_response(302 if redirect_to else 204)
                if redirect_to:
                    self.send_header("Location", redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_PUT = do_POST

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = Counting(("127.0.0.1", 0), Handler)
        self.port = int(self.httpd.server_address[1])
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}/hooks"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def events(self) -> list[str]:
        return [json.loads(body)["type"] for method, body in list(self.requests)
                if method == "POST"]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hooks() -> Iterator[list[Hook]]:
    made: list[Hook] = []
    yield made
    for hook in made:
        hook.close()


def new_hook(hooks: list[Hook], **options: Any) -> Hook:
    hook = Hook(**options)
    hooks.append(hook)
    return hook


@dataclass
class Certificate:
    """A test CA, and a certificate it signed for the name localhost (not for 127.0.0.1)."""

    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    tmp = tmp_path_factory.mktemp("tls")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tmp, check=True, capture_output=True, timeout=60)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=Coview test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost")
    (tmp / "leaf.ext").write_text(
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n")
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "leaf.pem", "-days", "2", "-extfile", "leaf.ext")
    return Certificate(tmp / "ca.pem", tmp / "leaf.pem", tmp / "leaf.key")


# ---- the sender's transport, against real sockets ----------------------------------------


async def _post(url: str, *, allow_private: bool, ca: Path | None = None) -> int:
    verify = ssl.create_default_context(cafile=str(ca)) if ca is not None else None
    transport = EgressTransport(allow_private=allow_private, verify=verify)
    async with httpx.AsyncClient(transport=transport, follow_redirects=False) as client:
        return (await client.post(url, content=b"{}")).status_code


def test_sender_refuses_loopback_targets_before_connecting(hooks: list[Hook]) -> None:
    """The sender's transport opens no connection to a loopback receiver, named or not."""
    hook = new_hook(hooks)
    urls = [f"https://localhost:{hook.port}/hooks", f"https://127.0.0.1:{hook.port}/hooks",
            f"https://2130706433:{hook.port}/hooks", f"http://localhost:{hook.port}/hooks"]
    accepted = []
    for url in urls:
        try:
            run_async(_post(url, allow_private=False))
        except InvalidInput:
            continue
        accepted.append(url)
    assert len(accepted) == 0, f"internal targets accepted: {len(accepted)} of {len(urls)}"
    assert hook.connections == 0, f"connections to internal targets: {hook.connections} " \
                                  f"of {len(urls)}"


def test_sender_posts_to_private_targets_when_allowed(hooks: list[Hook]) -> None:
    """With private webhooks allowed, the sender reaches a receiver by name and by address."""
    hook = new_hook(hooks)
    assert run_async(_post(f"http://localhost:{hook.port}/hooks", allow_private=True)) == 204
    assert run_async(_post(f"http://127.0.0.1:{hook.port}/hooks", allow_private=True)) == 204
    assert [method for method, _ in hook.requests] == ["POST", "POST"]


def test_sender_checks_the_certificate_against_the_name(hooks: list[Hook],
                                                        certificate: Certificate) -> None:
    """Connecting to the checked address keeps TLS on the name: a certificate for localhost
    is accepted at https://localhost and refused at https://127.0.0.1."""
    hook = new_hook(hooks, tls=(certificate.cert, certificate.key))
    assert run_async(_post(f"https://localhost:{hook.port}/hooks", allow_private=True,
                           ca=certificate.ca)) == 204
    with pytest.raises(httpx.ConnectError):
        run_async(_post(f"https://127.0.0.1:{hook.port}/hooks", allow_private=True,
                        ca=certificate.ca))
    assert len(hook.requests) == 1


# ---- end to end, against coview serve ------------------------------------------------------


def start_session(server: Server) -> None:
    """Start a random-key session on a raw session socket (the server emits session.start)."""
    async def go() -> None:
        url = server.base_url.replace("http://", "ws://") + "/ws/v1/session"
        async with connect(url, compression=None) as ws:
            await ws.send(START)
            message = await ws.recv()
            assert isinstance(message, bytes)
            assert decode_frame(message, max_bytes=1 << 20).header["t"] == "welcome"
    run_async(go())


def log_lines(server: Server, message: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in server.logs().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == message]


@pytest.mark.e2e
def test_saving_internal_webhook_targets_is_refused(tmp_path: Path, hooks: list[Hook],
                                                   figure: Figure) -> None:
    """PUT and PATCH of settings naming an internal webhook target answer 422 naming the field
    and store nothing, and a receiver on loopback is never posted to."""
    hook = new_hook(hooks)
    server = start_server(tmp_path, ["--data-dir", str(tmp_path / "data")],
                          env={"COVIEW_ALLOW_PRIVATE_WEBHOOKS": "0"})
    try:
        cases = [hook.url, f"http://localhost:{hook.port}/hooks",
                 f"https://127.0.0.1:{hook.port}/hooks", "https://127.0.0.1/",
                 "https://10.0.0.1/", "https://192.168.1.1/hooks", "https://100.64.0.1/",
                 "https://169.254.169.254/latest/meta-data", "https://localhost/",
                 f"https://localhost:{hook.port}/hooks", "https://[::1]/",
                 "https://2130706433/", "https://0x7f000001/", "https://127.1/",
                 "https://0.0.0.0/", "http://93.184.216.34/hooks"]
        with server.client() as client:
            auth = bearer(login(client, server.demo_password))
            accepted, answers = [], []
            for index, url in enumerate(cases):
                # Alternately alone (field webhooks.0.url) and after a good one (webhooks.1.url).
                good = [{"url": "https://hooks.example.com/coview"}] if index % 2 else []
                document = {"webhooks": [*good, {"url": url}]}
                if index % 3 == 0:
                    answer = client.put("/api/v1/settings", headers=auth, json=document)
                else:
                    answer = client.patch("/api/v1/settings", headers=auth, json=document)
                answers.append(answer)
                field = f"webhooks.{len(good)}.url"
                if answer.status_code != 422 or field not in answer.json()["error"]["fields"]:
                    accepted.append((url, answer.status_code))
            figure("internal webhook targets accepted when settings are saved",
                   f"{len(accepted)} of {len(cases)}", "0")
            assert len(accepted) == 0, f"internal targets accepted: {len(accepted)} of " \
                                       f"{len(cases)}: {accepted}"
            assert {error_code(answer) for answer in answers} == {"invalid_input"}
            staging = client.get("/api/v1/settings", headers=auth).json()["settings"]
            assert staging["webhooks"] == []
            # A public address is accepted, and so is a name that does not resolve (yet).
            assert client.patch("/api/v1/settings", headers=auth, json={"webhooks": [
                {"url": "https://93.184.216.34/hooks"}]}).status_code == 200
            assert client.patch("/api/v1/settings", headers=auth, json={"webhooks": [
                {"url": "https://coview-barrier.invalid/hooks"}]}).status_code == 200
            assert client.post("/api/v1/settings/publish", headers=auth).status_code == 200
        start_session(server)
        # The event went to the one stored target (which does not resolve) and nowhere else.
        wait_until(lambda: log_lines(server, "webhook delivery failed"),
                   what="the delivery to the stored target")
        assert hook.connections == 0, f"posts to internal targets: {hook.connections}"
    finally:
        server.stop()


@pytest.mark.e2e
def test_targets_saved_while_allowed_are_refused_at_send(
        tmp_path: Path, hooks: list[Hook], certificate: Certificate, figure: Figure) -> None:
    """Webhooks saved while private targets were allowed (https://localhost and
    http://127.0.0.1, both reached then) are refused when sent after a restart without the
    option: nothing is posted, each refusal is one log line, and publishing them is refused."""
    secure = new_hook(hooks, tls=(certificate.cert, certificate.key))
    plain = new_hook(hooks)
    targets = [f"https://localhost:{secure.port}/hooks", plain.url]
    args = ["--data-dir", str(tmp_path / "data")]
    trust = {"SSL_CERT_FILE": str(certificate.ca)}
    allowed = start_server(tmp_path, [*args, "--allow-private-webhooks"], env=trust)
    try:
        with allowed.client() as client:
            auth = bearer(login(client, allowed.demo_password))
            assert client.patch("/api/v1/settings", headers=auth, json={
                "webhooks": [{"url": url} for url in targets]}).status_code == 200
            assert client.post("/api/v1/settings/publish", headers=auth).status_code == 200
        start_session(allowed)
        wait_until(lambda: "session.start" in secure.events() and
                   "session.start" in plain.events(), what="both webhooks while allowed")
    finally:
        allowed.stop()
    before = (secure.connections, plain.connections)

    guarded = start_server(tmp_path, args,
                           env={**trust, "COVIEW_ALLOW_PRIVATE_WEBHOOKS": "0"})
    try:
        start_session(guarded)

        def posted() -> int:
            return (secure.connections - before[0]) + (plain.connections - before[1])

        # Each target is either refused (a log line) or posted to: wait for one or the other.
        wait_until(lambda: len(log_lines(guarded, "webhook target refused")) + posted()
                   >= len(targets), what="each target refused or posted to")
        refusals = [line for line in log_lines(guarded, "webhook target refused")
                    if line["event"] == "session.start"]
        figure("webhooks posted to internal targets stored before (checked at send)",
               f"{posted()} of {len(targets)}", "0")
        assert posted() == 0, f"internal targets posted: {posted()} of {len(targets)}"
        assert len(refusals) == len(targets)
        reasons = {line["host"]: line["reason"] for line in refusals}
        assert "loopback" in reasons["localhost"], reasons
        assert "https" in reasons["127.0.0.1"], reasons
        assert "webhook delivery failed" not in guarded.logs()  # refused, so never retried
        with guarded.client() as client:
            auth = bearer(login(client, guarded.demo_password))
            published = client.post("/api/v1/settings/publish", headers=auth)
        assert published.status_code == 422
        assert set(published.json()["error"]["fields"]) == {"webhooks.0.url", "webhooks.1.url"}
    finally:
        guarded.stop()


@pytest.mark.e2e
def test_redirects_are_not_followed(tmp_path: Path, hooks: list[Hook]) -> None:
    """A receiver answering 302 to a second receiver: the second gets nothing (private
    webhooks allowed, so the first is reached)."""
    second = new_hook(hooks)
    first = new_hook(hooks, redirect_to=second.url)
    server = start_server(tmp_path, ["--data-dir", str(tmp_path / "data")],
                          env={"COVIEW_ALLOW_PRIVATE_WEBHOOKS": "1"})
    try:
        with server.client() as client:
            auth = bearer(login(client, server.demo_password))
            assert client.patch("/api/v1/settings", headers=auth, json={
                "webhooks": [{"url": first.url}]}).status_code == 200
            assert client.post("/api/v1/settings/publish", headers=auth).status_code == 200
        start_session(server)
        wait_until(lambda: any(line["error"] == "HTTP 302" for line in
                               log_lines(server, "webhook delivery failed")),
                   what="the 302 answer")
        assert "session.start" in first.events()
        assert second.connections == 0, f"redirects followed: {second.connections} of 1"
    finally:
        server.stop()
