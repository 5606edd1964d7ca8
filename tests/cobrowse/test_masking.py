"""Masking happens on the visitor's device: no masked value is in any message the visitor's
browser sends (a tap on the way to the server), in the server's database or in its logs,
whether it arrives in the first snapshot, in input events, in a late agent's snapshot or after
a "show password" toggle."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

import coview
from tests.cobrowse_support import (
    Site,
    console_cobrowse,
    publish_settings,
    replayed,
    start_visitor,
)
from tests.conftest import Server, wait_until
from tests.screen_support import TapProxy

SENTINELS = [f"SENTINEL{n}X" for n in range(1, 16)]

PAGE = """
<label>Name <input id="text"></label>
<label>Password <input id="pw" type="password"></label>
<textarea id="ta">SENTINEL3X</textarea>
<select id="sel" data-coview-mask>
  <option value="a">a</option><option value="SENTINEL5X">SENTINEL6X</option>
</select>
<input type="hidden" id="hid" value="SENTINEL7X">
<div id="ce" contenteditable="true">SENTINEL8X</div>
<label>Card PIN <input id="pw2" type="password"></label>
<button id="show" onclick="document.getElementById('pw2').type = 'text'">Show</button>
<p data-coview-mask id="masked-p">SENTINEL12X</p>
<p class="secret">SENTINEL13X</p>
<div data-coview-block><span>SENTINEL14X</span></div>
<input id="later">
<label>Search <input id="plain" data-coview-unmask></label>
<p id="visible">Plain text anyone may see</p>
"""


@pytest.fixture
def tap(server: Server) -> Iterator[TapProxy]:
    proxy = TapProxy(server.base_url)
    yield proxy
    proxy.close()


def test_masked_values_never_leave_the_visitors_device(
        browser: Browser, server: Server, site: Site, tap: TapProxy) -> None:
    shop = Site(tap.url, pages={"/": PAGE})
    publish_settings(server, trusted_origins=[site.origin(), shop.origin()],
                     masking_selectors=[".secret"])
    visitor_context = browser.new_context()
    page, key = start_visitor(visitor_context, shop.origin() + "/")
    agent_context, console = console_cobrowse(browser, server, key)
    frame = replayed(console)
    expect(frame.locator("#visible")).to_have_text("Plain text anyone may see")

    page.locator("#text").press_sequentially("SENTINEL1X")
    page.locator("#pw").fill("SENTINEL2X")
    page.locator("#ta").fill("SENTINEL4X")
    page.locator("#sel").select_option("SENTINEL5X")
    page.locator("#ce").click()
    page.keyboard.type("SENTINEL9X")
    page.locator("#pw2").fill("SENTINEL10X")
    page.locator("#show").click()
    page.locator("#pw2").press_sequentially("SENTINEL11X")
    page.evaluate("document.getElementById('later').setAttribute('value', 'SENTINEL15X')")
    page.locator("#plain").fill("visible words")
    # The agent sees the unmasked field, and masks in place of the others.
    expect(frame.locator("#plain")).to_have_value("visible words")
    expect(frame.locator("#text")).to_have_value("******")
    expect(frame.locator("#masked-p")).not_to_contain_text("SENTINEL")

    # A second agent joins late: a catch-up and a fresh full snapshot, with all the values.
    snapshots = sum(1 for f in tap.frames() if f.type == "dom" and f.header.get("full"))
    agent = coview.Agent(server.base_url, group_id=12345, username="demo",
                         password=server.demo_password)
    late = agent.join(key)
    wait_until(lambda: sum(1 for f in tap.frames() if f.type == "dom" and f.header.get("full"))
               > snapshots, what="a fresh snapshot for the late agent")
    late.leave()

    sent = b"".join(tap.sent)
    assert b"visible words" in sent  # the tap sees input values when they are not masked
    assert b"Plain text anyone may see" in sent
    for sentinel in SENTINELS:
        assert sentinel.encode() not in sent, f"{sentinel} left the visitor's device"
    stored = b"".join(p.read_bytes() for p in Path(server.data_dir).rglob("*")  # type: ignore[attr-defined]
                      if p.is_file())
    logs = server.stdout_path.read_bytes() + server.stderr_path.read_bytes()
    for sentinel in SENTINELS:
        assert sentinel.encode() not in stored
        assert sentinel.encode() not in logs
    agent_context.close()
    visitor_context.close()
    shop.close()
