"""Masking across input kinds and timing (issue 14, suite item 7): values set by script,
filled by the browser's own autofill, added late, inside shadow DOM and a same-origin iframe,
and a password shown then hidden again never leave the visitor's device: not on the wire, not
in SQLite or PostgreSQL, not in the logs, and not through Redis when scaled out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.cobrowse_support import (
    Site,
    console_cobrowse,
    publish_settings,
    replayed,
    start_visitor,
)
from tests.conftest import (
    BACKENDS,
    Figure,
    PostgresDatabases,
    Server,
    run_async,
    start_server,
)
from tests.scale_support import RedisMonitor, RedisServer
from tests.screen_support import TapProxy

pytestmark = pytest.mark.e2e

SENTINELS = [f"KINDSENT{n}Q" for n in range(1, 10)] + ["4444333322221111"]

PAGE = """
<label>Scripted <input id="scripted"></label>
<label>Autofilled email <input id="email" type="email" autocomplete="email"></label>
<label>PIN <input id="pin" type="password"></label>
<button id="toggle" onclick="const p = document.getElementById('pin');
  p.type = p.type === 'password' ? 'text' : 'password'">Show/hide</button>
<div id="host"></div>
<iframe id="inner" src="/inner" width="300" height="80"></iframe>
<div id="later"></div>
<form id="card" action="/pay" method="post">
  <label>Name on card <input id="cc-name" name="ccname" autocomplete="cc-name"></label>
  <label>Card number <input id="cc-number" name="cardnumber" autocomplete="cc-number"></label>
  <label>Expiry <input id="cc-exp" name="ccexp" autocomplete="cc-exp"></label>
</form>
<p id="visible">Shown to agents</p>
<script>
  const root = document.getElementById('host').attachShadow({mode: 'open'});
  root.innerHTML = '<label>In a shadow root <input id="shadowed"></label>';
</script>
"""
INNER = b"<!doctype html><label>In a frame <input id='framed'></label>"


@pytest.fixture(params=BACKENDS)
def backend_server(request: pytest.FixtureRequest, tmp_path: Path,
                   postgres: PostgresDatabases) -> Iterator[tuple[Server, str]]:
    args = ["--data-dir", str(tmp_path / "data")]
    url = ""
    if request.param == "postgresql":
        url = postgres.create()
        args += ["--database-url", url]
    running = start_server(tmp_path, args)
    running.data_dir = tmp_path / "data"  # type: ignore[attr-defined]
    yield running, url
    running.stop()


def postgres_dump(url: str) -> bytes:
    """Every row of every table of the PostgreSQL database, as text."""
    async def dump() -> bytes:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            tables = [r["tablename"] for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
            text = []
            for table in tables:
                rows = await conn.fetch(f'SELECT * FROM "{table}"')  # noqa: S608 (names from the catalogue)
                text += [repr(dict(row)) for row in rows]
            return "\n".join(text).encode()
        finally:
            await conn.close()

    return run_async(dump())


def type_every_kind(page: Page) -> None:
    """Put a sentinel into each masked field of PAGE, each in its own way and time."""
    # A value set by script (no input event), and one as autofill sets it.
    page.evaluate(f"document.getElementById('scripted').value = '{SENTINELS[0]}'")
    page.evaluate(f"""() => {{ const e = document.getElementById('email');
        e.value = '{SENTINELS[1]}';
        e.dispatchEvent(new Event('input', {{bubbles: true}}));
        e.dispatchEvent(new Event('change', {{bubbles: true}})); }}""")
    # A password shown, typed into, hidden again, typed into again.
    page.locator("#toggle").click()
    page.locator("#pin").press_sequentially(SENTINELS[2])
    page.locator("#toggle").click()
    page.locator("#pin").press_sequentially(SENTINELS[3])
    # Inside a shadow root and inside a same-origin frame.
    page.locator("#shadowed").press_sequentially(SENTINELS[4])
    page.frame_locator("#inner").locator("#framed").press_sequentially(SENTINELS[5])
    # A field added late, with a value, then typed into.
    page.evaluate(f"""() => {{ document.getElementById('later').innerHTML =
        '<input id="late" value="{SENTINELS[6]}">'; }}""")
    page.locator("#late").press_sequentially(SENTINELS[7])
    # The browser's own autofill of a card (Chromium's, driven as its DevTools tests do).
    page.locator("#cc-number").click()
    devtools = page.context.new_cdp_session(page)
    devtools.send("DOM.enable")
    root = devtools.send("DOM.getDocument")["root"]["nodeId"]
    field = devtools.send("DOM.querySelector", {"nodeId": root, "selector": "#cc-number"})
    described = devtools.send("DOM.describeNode", {"nodeId": field["nodeId"]})
    devtools.send("Autofill.trigger", {"fieldId": described["node"]["backendNodeId"], "card": {
        "number": SENTINELS[9], "name": SENTINELS[8], "expiryMonth": "01",
        "expiryYear": "2031", "cvc": "987"}})
    expect(page.locator("#cc-number")).to_have_value(SENTINELS[9])
    devtools.detach()


def type_into_a_shared_page(browser: Browser, visitors_server: Server,
                            agents_server: Server) -> TapProxy:
    """A visitor (through a tap, on ``visitors_server``) shares PAGE with an agent (on
    ``agents_server``) and puts every sentinel in; returns the closed tap and what it saw."""
    tap = TapProxy(visitors_server.base_url)
    shop = Site(tap.url, pages={"/": PAGE}, raw={"/inner": ("text/html", INNER)})
    try:
        publish_settings(visitors_server, trusted_origins=[shop.origin()])
        visitor_context = browser.new_context()
        page, key = start_visitor(visitor_context, shop.origin() + "/")
        agent_context, console = console_cobrowse(browser, agents_server, key)
        frame = replayed(console)
        expect(frame.locator("#visible")).to_have_text("Shown to agents")
        type_every_kind(page)
        page.evaluate("document.getElementById('visible').textContent = 'All typed'")
        expect(frame.locator("#visible")).to_have_text("All typed")
        agent_context.close()
        visitor_context.close()
    finally:
        shop.close()
        tap.close()
    return tap


def test_masked_values_of_every_kind_and_timing_never_leave(
        browser: Browser, backend_server: tuple[Server, str], figure: Figure) -> None:
    """Typed, scripted, autofilled (as a page's script does it, and by the browser itself),
    late, shadow-DOM, iframe and shown-then-hidden password values: none reaches the wire,
    the database or the logs."""
    server, database_url = backend_server
    tap = type_into_a_shared_page(browser, server, server)

    places = {
        "wire": b"".join(tap.sent),
        "database": postgres_dump(database_url) if database_url else b"".join(
            p.read_bytes() for p in Path(server.data_dir).rglob("*")  # type: ignore[attr-defined]
            if p.is_file()),
        "logs": server.stdout_path.read_bytes() + server.stderr_path.read_bytes(),
    }
    assert b"All typed" in places["wire"]  # the tap sees what is not masked
    hits = {(where, s) for where, data in places.items() for s in SENTINELS
            if s.encode() in data}
    figure(f"masked values (10 kinds and timings) found on the wire, in the database "
           f"({'PostgreSQL' if database_url else 'SQLite'}) or in the logs",
           f"{len(hits)} of {len(SENTINELS) * len(places)}", "0")
    assert hits == set()


def test_masked_values_never_reach_redis_when_scaled_out(
        browser: Browser, tmp_path: Path, postgres: PostgresDatabases, figure: Figure) -> None:
    """Scaled out, the visitor on one process and the agent on another: the page crosses
    Redis, the masked values do not (every command Redis is told, and every value it holds)."""
    redis = RedisServer()
    monitor = RedisMonitor(redis)
    database_url = postgres.create()
    servers: list[Server] = []
    try:
        for demo in (True, False):
            servers.append(start_server(tmp_path, [
                "--data-dir", str(tmp_path / "data"), "--database-url", database_url,
                "--redis-url", redis.url], demo=demo))
        visitors_server, agents_server = servers
        agents_server.demo_password = visitors_server.demo_password
        type_into_a_shared_page(browser, visitors_server, agents_server)
    finally:
        told = monitor.stop()
        for server in servers:
            server.stop()
        redis.stop()

    assert b"All typed" in told  # the page's content did cross Redis
    hits = [s for s in SENTINELS if s.encode() in told]
    figure("masked values (10 kinds and timings) found in Redis, scaled out (visitor and "
           "agent on two processes)", f"{len(hits)} of {len(SENTINELS)}", "0")
    assert hits == []
