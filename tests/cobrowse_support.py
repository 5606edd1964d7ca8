"""Test helpers for cobrowse: a customer's web site on its own origin, and the browser sides.

The site runs on loopback under host names that Chromium maps to 127.0.0.1
(``--host-resolver-rules``), so that origins such as ``http://shop.test:PORT`` and look-alikes
(``http://shop.test.evil.test:PORT``) are real, distinct origins.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Frame, Page, expect

from tests.conftest import Server, wait_until
from tests.helpers import bearer, login

GROUP = 12345

# Every event of the visitor API, recorded by the test pages in window.coviewEvents.
EVENTS = ["sessionstarting", "sessionstart", "sessioncontinue", "statereceived", "sessionend",
          "leavesession", "error", "connection", "agents", "blur", "focus", "sessionpaused",
          "navigation", "outline", "accessibility", "rcrequested", "rcaccepted", "rcdeclined",
          "rcenabled", "agentaction", "message", "screenshare"]

RECORDER = """<script>
window.coviewEvents = [];
for (const name of EVENTS) {
  COVIEW.Cobrowse.Visitor.addEventListener(name, (detail) => {
    if (name === "rcrequested") window.coviewRc = detail;
    const copy = {};
    for (const [k, v] of Object.entries(detail || {})) {
      copy[k] = typeof v === "function" ? "function" : v;
    }
    const seen = { name, detail: copy, state: name === "statereceived"
      ? COVIEW.Cobrowse.Visitor.getSessionState() : null };
    window.coviewEvents.push(seen);
    // Kept across the pages of the tab too: some events fire on the page being left.
    const all = JSON.parse(sessionStorage.getItem("coviewAll") || "[]");
    all.push(seen);
    sessionStorage.setItem("coviewAll", JSON.stringify(all));
  });
}
</script>""".replace("EVENTS", json.dumps(EVENTS))


@dataclass
class Site:
    """A customer's web site: pages by path, each carrying the cobrowse script tag."""

    server_url: str  # what the script tag's src and data-server point at
    pages: dict[str, str] = field(default_factory=dict)
    raw: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # path: (type, body)
    hits: list[tuple[str, str]] = field(default_factory=list)  # (path, referer) of /canary
    port: int = 0
    extra: str = ""  # more script-tag attributes

    def __post_init__(self) -> None:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path.startswith("/canary"):
                    site.hits.append((self.path, self.headers.get("referer", "")))
                    self.send_response(204)
                    self.end_headers()
                    return
                if path in site.raw:
                    kind, data = site.raw[path]
                    self.send_response(200)
                    self.send_header("content-type", kind)
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                body = site.pages.get(path)
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = site.render(body).encode()
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._httpd.server_address[1])
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def origin(self, host: str = "shop.test") -> str:
        return f"http://{host}:{self.port}"

    def render(self, body: str) -> str:
        tag = (f'<script src="{self.server_url}/coview/visitor.js" data-groupid="{GROUP}" '
               f'{self.extra}></script>')
        return (f"<!doctype html><html><head><meta charset='utf-8'><title>Shop</title></head>"
                f"<body>{body}{tag}{RECORDER}</body></html>")

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def publish_settings(server: Server, **settings: object) -> None:
    """Change the demo group's production settings."""
    with server.client() as client:
        auth = bearer(login(client, server.demo_password))
        answer = client.patch("/api/v1/settings", headers=auth, json=settings)
        assert answer.status_code == 200, answer.text
        assert client.post("/api/v1/settings/publish", headers=auth).status_code == 200


def events(page: Page | Frame, name: str | None = None) -> list[dict[str, Any]]:
    """The visitor events the page has seen (details without their callbacks)."""
    seen: list[dict[str, Any]] = page.evaluate("window.coviewEvents || []")
    return [e for e in seen if name is None or e["name"] == name]


def tab_history(page: Page, name: str) -> list[dict[str, Any]]:
    """The details of the events ``name`` on every page this tab has shown."""
    seen: list[dict[str, Any]] = page.evaluate(
        "JSON.parse(sessionStorage.getItem('coviewAll') || '[]')")
    return [e["detail"] for e in seen if e["name"] == name]


def wait_event(page: Page | Frame, name: str, what: Callable[[dict[str, Any]], bool] | None = None,
               *, count: int = 1, timeout: float = 20) -> dict[str, Any]:
    """Wait until the page has seen ``count`` events ``name`` (matching ``what``)."""
    def found() -> list[dict[str, Any]]:
        return [e for e in events(page, name) if what is None or what(e["detail"])]
    wait_until(lambda: len(found()) >= count, timeout=timeout, what=f"the {name} event")
    return found()[count - 1]["detail"]


def start_visitor(context: BrowserContext, url: str, key: str | None = None) -> tuple[Page, str]:
    """Open ``url`` and start a cobrowse session; returns the page and its session key."""
    page = context.new_page()
    page.goto(url)
    page.wait_for_function("window.COVIEW && window.COVIEW.Cobrowse.Visitor")
    page.evaluate("(key) => COVIEW.Cobrowse.Visitor.startSession(key ? {sessionKey: key} : "
                  "undefined)", key)
    started = wait_event(page, "sessionstart")
    return page, str(started["sessionkey"])


def console_cobrowse(browser: Browser, server: Server, key: str) -> tuple[BrowserContext, Page]:
    """An agent console (its own browser context) in the cobrowse session ``key``."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    return context, console_join(context, server, key)


def replayed(page: Page):  # type: ignore[no-untyped-def]
    """The frame in which the console replays the visitor's page (rrweb's iframe)."""
    viewer = page.frame_locator("[data-testid=cobrowse-view]")
    return viewer.frame_locator("iframe")


# A 1x1 transparent GIF: what the listener answers for pictures, so that a request that gets
# through shows as a loaded image.
PIXEL = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000"
                      "010001000002024401003b")


@dataclass(frozen=True)
class Beacon:
    """One request a listener received."""

    host: str  # the Host header, without the port
    path: str
    referer: str
    origin: str


class Beacons:
    """An HTTP listener on loopback that answers everything (a picture, an empty stylesheet,
    or nothing) and records every request: where a replay would call home. Reached under any
    ``*.test`` name (``http://canary.test:PORT``), each a distinct origin."""

    def __init__(self) -> None:
        self.hits: list[Beacon] = []
        beacons = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                beacons.hits.append(Beacon(
                    self.headers.get("host", "").rsplit(":", 1)[0], self.path,
                    self.headers.get("referer", ""), self.headers.get("origin", "")))
                path = self.path.split("?", 1)[0]
                kind, body = (("text/css", b"") if path.endswith(".css")
                              else ("image/gif", PIXEL))
                self.send_response(200)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.send_header("access-control-allow-origin", "*")
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._httpd.server_address[1])
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def origin(self, host: str) -> str:
        return f"http://{host}:{self.port}"

    def to(self, host: str) -> list[Beacon]:
        """The requests that named ``host``."""
        return [hit for hit in list(self.hits) if hit.host == host]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def console_join(context: BrowserContext, server: Server, key: str) -> Page:
    """An agent console in the cobrowse session ``key``, on a browser context of the test's
    (one that carries init scripts or listeners set before the console loads)."""
    page = context.new_page()
    page.goto(f"{server.base_url}/agent/")
    page.get_by_test_id("signin-group").fill(str(GROUP))
    page.get_by_test_id("signin-username").fill("demo")
    page.get_by_test_id("signin-password").fill(server.demo_password)
    page.get_by_test_id("signin-submit").click()
    page.get_by_test_id("join-key").fill(key)
    page.get_by_test_id("join-submit").click()
    expect(page.get_by_test_id("session-status")).to_contain_text(f"In session {key}")
    return page
