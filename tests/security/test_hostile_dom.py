"""What hostile pages can do through Coview: DOM sent straight over the session socket, and
``coview_invoke`` messages from look-alike origins.

Hostile DOM: a raw visitor (a bare WebSocket, no browser, no visitor.js) starts a cobrowse
session and sends a full snapshot and mutations carrying each attack as rrweb events; an
agent's console (Chromium) joins, replays them, and clicks what the page would want clicked,
looking, drawing and under remote control. Every script payload, wherever it ran, would leave
a canary: a global and ``top.name`` on the console's windows, a message to them, a console
line, and a call to a listener (``canary.test``). Every resource payload names a host that is
not among the group's trusted origins (``cdn.evil.test``); a listener on the trusted origin
(``shop.test``) sees the replay's harmless requests, so that a replay that loads nothing cannot
pass for a safe one. Named elements that shadow the replayed document's members (DOM
clobbering) must neither freeze the replay nor switch off the viewer's guard.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect
from websockets.asyncio.client import ClientConnection, connect

from coview.protocol.frames import decode_frame, encode_frame
from tests.cobrowse_support import (
    GROUP,
    Beacons,
    Site,
    console_join,
    events,
    publish_settings,
    replayed,
    wait_event,
)
from tests.conftest import Figure, Server, start_server

pytestmark = pytest.mark.e2e

Node = dict[str, Any]
Event = dict[str, Any]

# What the console's windows do with the canaries' messages: keep them where the test looks.
HEAR = """
window.addEventListener('message', (e) => {
  if (typeof e.data === 'string' && e.data.startsWith('coview-canary')) {
    (window.coviewHeard = window.coviewHeard || []).push(e.data);
  }
});
"""

# What the canaries left on the console's window and every frame in it that is of its origin
# (the replay and the frames in it): a frame of another origin cannot reach them, and its
# messages reach the console's listeners.
EVERY_WINDOW = """() => {
  const seen = [];
  const walk = (w) => {
    try {
      seen.push([String(w.coviewRan || ''), String(w.name), Array.from(w.coviewHeard || [])]);
    } catch (err) {
      return;  // another origin's
    }
    for (let i = 0; i < w.frames.length; i += 1) walk(w.frames[i]);
  };
  walk(window);
  return seen;
}"""

# Methods of the replayed document that a page's named elements would shadow.
CLOBBERED = ["addEventListener", "querySelectorAll", "getSelection", "createTreeWalker",
             "createRange", "activeElement", "documentElement", "createElement", "head",
             "fonts", "defaultView"]

# Mutation-XSS strings: markup that turns into script when it is parsed, serialized and
# parsed again (the DOMPurify bypasses). {run} is the canary.
MXSS = [
    '<noscript><p title="</noscript><img src=x onerror="{run}">"></noscript>',
    '<svg></p><style><a id="</style><img src=1 onerror="{run}">"></svg>',
    '<math><mtext><table><mglyph><style><!--</style><img title="--&gt;&lt;/mglyph&gt;'
    '&lt;img&Tab;src=1&Tab;onerror=&quot;{run}&quot;&gt;">',
    '<form><math><mtext></form><form><mglyph><style></math><img src onerror="{run}">',
    '</textarea></title></style></script><img src=x onerror="{run}">',
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp: Path = tmp_path_factory.mktemp("hostile-dom")
    running = start_server(tmp, ["--data-dir", str(tmp / "data")])
    yield running
    running.stop()


@pytest.fixture(scope="module")
def beacons() -> Iterator[Beacons]:
    listener = Beacons()
    yield listener
    listener.close()


@dataclass
class Hostile:
    """A page of attacks in rrweb's serialized form. ``scripts`` names every payload that
    tries to run script (each with its own canary number), ``fetches`` every one that tries
    to reach a host the group did not allow (each with its own path)."""

    beacons: Beacons
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    scripts: list[str] = field(default_factory=list)
    fetches: list[str] = field(default_factory=list)
    clicks: list[str] = field(default_factory=list)  # ids of elements the agent clicks
    body: Node = field(default_factory=dict)  # the snapshot's body
    head_id: int = 0

    # -- the serialized form -----------------------------------------------------------

    def el(self, tag: str, attrs: dict[str, Any] | None = None, *children: Node,
           svg: bool = False) -> Node:
        node: Node = {"type": 2, "tagName": tag, "attributes": attrs or {},
                      "childNodes": list(children), "id": next(self.ids)}
        if svg:
            node["isSVG"] = True
        return node

    def text(self, value: str, *, style: bool = False) -> Node:
        node: Node = {"type": 3, "textContent": value, "id": next(self.ids)}
        if style:
            node["isStyle"] = True
        return node

    # -- payloads ----------------------------------------------------------------------

    def run(self, what: str) -> str:
        """Script that, wherever it runs, leaves every canary of case ``what``."""
        number = len(self.scripts)
        self.scripts.append(what)
        hit = f"{self.beacons.origin('canary.test')}/hit?case={number}"
        return (f"top.coviewRan=(top.coviewRan||'')+'{number},';"
                f"top.name='coview-canary-{number}';"
                f"parent.postMessage('coview-canary {number}','*');"
                f"top.postMessage('coview-canary {number}','*');"
                f"console.log('COVIEW-CANARY {number}');"
                f"fetch('{hit}');new Image().src='{hit}&img'")

    def far(self, what: str, host: str = "cdn.evil.test") -> str:
        """A URL of a host the group did not allow, for case ``what``."""
        self.fetches.append(what)
        return f"{self.beacons.origin(host)}/r/{len(self.fetches) - 1}/{what.replace(' ', '-')}"

    def near(self, name: str) -> str:
        """A URL of the group's trusted origin: the replay may load it."""
        return f"{self.beacons.origin('shop.test')}/ok/{name}.gif"

    def clickable(self, node: Node) -> Node:
        self.clicks.append(node["attributes"]["id"])
        return node

    def attacks(self, where: str) -> list[Node]:
        """Body nodes carrying every attack once (``where``: in the snapshot or a mutation)."""
        el, text, run, far = self.el, self.text, self.run, self.far
        w = where
        nodes = [
            # script
            el("script", {}, text(run(f"inline script ({w})"))),
            el("script", {"type": "module"}, text(run(f"module script ({w})"))),
            el("script", {"src": far(f"external script ({w})", "canary.test")}),
            # inline handlers that fire without a click
            el("img", {"src": "data:,x", "onerror": run(f"img onerror ({w})")}),
            el("details", {"open": "", "ontoggle": run(f"details ontoggle ({w})")},
               el("summary", {}, text("details"))),
            el("input", {"autofocus": "", "onfocus": run(f"autofocus onfocus ({w})")}),
            el("video", {"src": "data:,x", "onerror": run(f"video onerror ({w})")}),
            el("div", {"style": "animation: coview-spin 1s infinite",
                       "onanimationstart": run(f"onanimationstart ({w})")}, text("spin")),
            el("svg", {"onload": run(f"svg onload ({w})")}, svg=True),
            el("svg", {}, el("animate", {"attributeName": "x", "dur": "1s",
                                         "onbegin": run(f"svg animate onbegin ({w})")},
                             svg=True), svg=True),
            el("svg", {}, el("script", {}, text(run(f"svg script ({w})")), svg=True), svg=True),
            el("svg", {}, el("foreignObject", {"width": "10", "height": "10"},
                             el("img", {"src": "data:,x",
                                        "onerror": run(f"svg foreignObject onerror ({w})")})),
               svg=True),
            # javascript: and data: URLs, clicked or loaded
            self.clickable(el("a", {"id": f"js-{w}", "href": "javascript:" + run(
                f"javascript: link ({w})")}, text("javascript link"))),
            self.clickable(el("svg", {"id": f"svg-{w}", "width": "80", "height": "20"}, el(
                "a", {"xlink:href": "javascript:" + run(f"svg javascript: link ({w})")},
                el("text", {"y": "15"}, text("svg link"), svg=True), svg=True), svg=True)),
            el("iframe", {"src": "javascript:" + run(f"iframe javascript: src ({w})")}),
            el("iframe", {"src": "data:text/html,<script>" + run(f"iframe data: src ({w})")
                          + "</script>"}),
            el("object", {"data": "data:text/html,<script>" + run(f"object data: ({w})")
                          + "</script>"}),
            el("iframe", {"sandbox": "allow-scripts allow-same-origin allow-top-navigation "
                                     "allow-popups allow-forms allow-modals",
                          "srcdoc": f"<script>{run(f'sandbox attribute ({w})')}</script>"}),
            el("iframe", {"srcdoc": f"<script>{run(f'srcdoc script ({w})')}</script>"
                          f"<img src=x onerror=\"{run(f'srcdoc onerror ({w})')}\">"
                          f"<img src=\"{far(f'srcdoc img ({w})')}\">"}),
            # forms, submitted by the agent
            el("form", {"action": "javascript:" + run(f"form javascript: action ({w})")},
               self.clickable(el("button", {"id": f"submit-js-{w}"}, text("send")))),
            el("form", {"action": far(f"form action ({w})", "canary.test"), "method": "get"},
               self.clickable(el("button", {"id": f"submit-far-{w}"}, text("send")))),
            el("form", {}, self.clickable(el("button", {
                "id": f"formaction-{w}",
                "formaction": "javascript:" + run(f"button formaction ({w})")},
                text("send")))),
            self.clickable(el("a", {"id": f"far-link-{w}",
                                    "href": far(f"link ({w})", "canary.test"),
                                    "ping": far(f"a ping ({w})", "canary.test")},
                              text("far link"))),
            # mutation-XSS strings as text, attributes and parsed markup
            *(el("p", {"title": m.format(run=run(f"mXSS {i} in an attribute ({w})"))},
                 text(m.format(run=run(f"mXSS {i} as text ({w})"))))
              for i, m in enumerate(MXSS)),
            *(el("iframe", {"srcdoc": m.format(run=run(f"mXSS {i} in srcdoc ({w})"))})
              for i, m in enumerate(MXSS)),
            el("noscript", {}, text(MXSS[0].format(run=run(f"noscript text ({w})")))),
            el("textarea", {}, text(MXSS[4].format(run=run(f"textarea text ({w})")))),
            # resources from hosts the group did not allow
            el("img", {"src": far(f"img src ({w})")}),
            el("img", {"src": "data:,x", "srcset": far(f"img srcset ({w})") + " 1x"}),
            el("picture", {}, el("source", {"srcset": far(f"picture source ({w})")}),
               el("img", {"src": "data:,x"})),
            el("video", {"poster": far(f"video poster ({w})")}),
            el("video", {"src": far(f"video src ({w})")}),
            el("audio", {"src": far(f"audio src ({w})"), "autoplay": ""}),
            el("input", {"type": "image", "src": far(f"input image ({w})")}),
            el("table", {"background": far(f"table background ({w})")},
               el("tbody", {}, el("tr", {}, el("td", {}, text("cell"))))),
            el("div", {"style": f"background:url({far(f'style background ({w})')});"
                                f"width:10px;height:10px"}),
            el("div", {"style": f"cursor:url({far(f'style cursor ({w})')}),auto;"
                                f"list-style-image:url({far(f'list-style-image ({w})')});"
                                f"border-image:url({far(f'border-image ({w})')}) 30;"
                                f"mask-image:url({far(f'mask-image ({w})')});"
                                "width:10px;height:10px"}),
            el("link", {"rel": "stylesheet", "href": far(f"link stylesheet ({w})")}),
            el("link", {"rel": "preload", "as": "image", "href": far(f"link preload ({w})")}),
            el("link", {"rel": "prefetch", "href": far(f"link prefetch ({w})")}),
            el("style", {}, text(f"@import url({far(f'@import ({w})')});", style=True)),
            el("style", {}, text(
                "@font-face{font-family:coview-far-" + w + ";src:url("
                + far(f"@font-face ({w})") + ")}"
                ".far-font-" + w + "{font-family:coview-far-" + w + "}"
                ".far-content-" + w + "::before{content:url(" + far(f"content url ({w})") + ")}",
                style=True)),
            el("p", {"class": f"far-font-{w} far-content-{w}"}, text("styled text")),
            el("svg", {}, el("image", {"href": far(f"svg image ({w})"), "width": "5",
                                       "height": "5"}, svg=True), svg=True),
            el("svg", {}, el("use", {"href": far(f"svg use ({w})") + "#a"}, svg=True),
               svg=True),
            el("svg", {}, el("filter", {"id": f"f-{w}"}, el("feImage", {
                "href": far(f"svg feImage ({w})")}, svg=True), svg=True), svg=True),
            el("iframe", {"src": far(f"iframe src ({w})")}),
            el("object", {"data": far(f"object data ({w})")}),
            el("embed", {"src": far(f"embed src ({w})")}),
            el("canvas", {"rr_dataURL": far(f"canvas rr_dataURL ({w})")}),
            el("img", {"src": "data:,x", "rr_dataURL": far(f"img rr_dataURL ({w})")}),
            # DOM clobbering: names that shadow the replayed document's members, which rrweb
            # and the viewer's guard call (in the snapshot: the replay must go on after it)
            *(el(tag, {"name": name}) for name in CLOBBERED if where == "snapshot"
              for tag in ("img", "form", "embed", "iframe", "object")),
            el("object", {"id": "createTextNode"}),
            el("img", {"name": "clobber", "id": "getElementsByTagName"}),
            el("form", {"id": f"clobbered-form-{w}"}, self.clickable(el(
                "input", {"name": "elements", "id": f"clobbered-input-{w}"}))),
            # the harmless request the replay makes: its page shows
            el("img", {"id": f"ok-{w}", "src": self.near(w)}),
        ]
        return nodes

    def guarded(self) -> list[Node]:
        """What the agent's clicks and keys would change in the replay, were the viewer's
        guard off: a checkbox, a closed details, a field."""
        el, text = self.el, self.text
        return [
            self.clickable(el("input", {"type": "checkbox", "id": "box"})),
            el("details", {"id": "shut"}, self.clickable(el("summary", {"id": "shut-summary"},
                                                            text("more"))), text("hidden")),
            el("input", {"id": "field"}),
        ]

    def head(self, where: str) -> list[Node]:
        """Head nodes carrying the attacks that belong there."""
        el, run, far = self.el, self.run, self.far
        w = where
        return [
            el("meta", {"charset": "utf-8"}),
            el("meta", {"http-equiv": "refresh",
                        "content": "0;url=javascript:" + run(f"meta refresh javascript: ({w})")}),
            el("meta", {"http-equiv": "refresh",
                        "content": "0;url=data:text/html,<script>"
                        + run(f"meta refresh data: ({w})") + "</script>"}),
            el("meta", {"http-equiv": "refresh",
                        "content": "1;url=" + far(f"meta refresh ({w})", "canary.test")}),
            el("meta", {"http-equiv": "Content-Security-Policy",
                        "content": "script-src * 'unsafe-inline'"}),
            el("base", {"href": far(f"base href ({w})", "canary.test") + "/"}),
            el("script", {}, self.text(run(f"head script ({w})"))),
            el("style", {}, self.text("@keyframes coview-spin{from{opacity:.5}to{opacity:1}}",
                                      style=True)),
        ]

    # -- events ------------------------------------------------------------------------

    def snapshot(self) -> list[Event]:
        """Meta and a full snapshot carrying every attack."""
        body_attrs = {"onpageshow": self.run("body onpageshow"),
                      "onload": self.run("body onload")}
        document: Node = {"type": 0, "id": next(self.ids), "childNodes": [
            {"type": 1, "name": "html", "publicId": "", "systemId": "", "id": next(self.ids)},
            self.el("html", {}, self.el("head", {}, *self.head("snapshot")),
                    self.el("body", body_attrs, self.el("h1", {"id": "title"},
                                                        self.text("Hostile page")),
                            *self.attacks("snapshot"), *self.guarded())),
        ]}
        self.body = document["childNodes"][1]["childNodes"][1]
        self.head_id = document["childNodes"][1]["childNodes"][0]["id"]
        return [
            {"type": 4, "data": {"href": "javascript:" + self.run("meta event href"),
                                 "width": 1200, "height": 900}, "timestamp": now()},
            {"type": 2, "data": {"node": document, "initialOffset": {"left": 0, "top": 0}},
             "timestamp": now()},
        ]

    def mutations(self) -> list[Event]:
        """Mutations carrying every attack again, as added nodes, changed attributes and
        text, style rules, fonts and canvas calls; the last adds ``#done``."""
        adds: list[dict[str, Any]] = []
        for node in self.head("mutation"):
            adds += flatten(self.head_id, node)
        body = self.attacks("mutation")
        for node in body:
            adds += flatten(self.body["id"], node)

        def first(tag: str, **attrs: str) -> Node:
            return next(n for n in body if n["tagName"] == tag
                        and all(n["attributes"].get(k) == v for k, v in attrs.items()))
        broken, link, frame = first("img", src="data:,x"), first("a"), first("iframe")
        script, style, canvas_el = first("script"), first("style"), first("canvas")
        # An iframe whose document rrweb builds itself (as it would a same-origin frame's).
        inner = self.el("iframe", {"id": "built"})
        adds += flatten(self.body["id"], inner)
        built: Node = {"type": 0, "id": next(self.ids), "childNodes": [self.el(
            "html", {}, self.el("head", {}, self.el("script", {}, self.text(
                self.run("script in a built iframe")))),
            self.el("body", {}, self.el("img", {
                "src": "data:,x", "onerror": self.run("onerror in a built iframe")}),
                self.el("img", {"src": self.far("img in a built iframe")})))]}
        mark_root(built, built["id"])
        changed = [
            {"id": broken["id"], "attributes": {
                "onerror": self.run("onerror set by a mutation"), "src": "data:,y"}},
            {"id": link["id"], "attributes": {
                "href": "javascript:" + self.run("javascript: href set by a mutation")}},
            {"id": frame["id"], "attributes": {
                "srcdoc": f"<script>{self.run('srcdoc set by a mutation')}</script>"}},
            {"id": self.body["id"], "attributes": {
                "onfocus": self.run("body onfocus set by a mutation"),
                "background": self.far("body background set by a mutation")}},
        ]
        style_rules = {"source": 8, "id": style["id"], "adds": [
            {"rule": f"@import url({self.far('@import by insertRule')});", "index": 0},
            {"rule": f"body{{background-image:url({self.far('rule by insertRule')})}}",
             "index": 1}]}
        declaration = {"source": 13, "id": style["id"], "index": [0], "set": {
            "property": "background-image", "value": f"url({self.far('style declaration')})"}}
        font = {"source": 7, "family": "coview-font-event", "buffer": False,
                "fontSource": f"url({self.far('font event')})", "descriptors": {}}
        canvas = {"source": 9, "id": canvas_el["id"], "type": 0, "commands": [
            {"property": "drawImage", "args": [
                {"rr_type": "Function", "args": [self.run("canvas Function")]}]}]}
        done = self.el("p", {"id": "done"}, self.text("done"))
        return [
            mutation(adds=adds),
            mutation(adds=[{"parentId": inner["id"], "nextId": None, "node": built}]),
            mutation(attributes=changed, texts=[
                {"id": script["childNodes"][0]["id"],
                 "value": self.run("script text set by a mutation")}]),
            {"type": 3, "data": style_rules, "timestamp": now()},
            {"type": 3, "data": declaration, "timestamp": now()},
            {"type": 3, "data": font, "timestamp": now()},
            {"type": 3, "data": canvas, "timestamp": now()},
            # A font that the page's text uses, so that the font event is fetched if allowed.
            mutation(adds=flatten(self.body["id"], self.el(
                "p", {"style": "font-family:coview-font-event"}, self.text("font event")))),
            mutation(adds=flatten(self.body["id"], done)),
        ]


def now() -> int:
    return int(time.time() * 1000)


def mutation(**changes: list[dict[str, Any]]) -> Event:
    data: dict[str, Any] = {"source": 0, "texts": [], "attributes": [], "removes": [],
                            "adds": []}
    data.update(changes)
    return {"type": 3, "data": data, "timestamp": now()}


def flatten(parent: int, node: Node) -> list[dict[str, Any]]:
    """A subtree as rrweb's mutation adds: each node on its own, parents first."""
    children = node.get("childNodes", [])
    adds = [{"parentId": parent, "nextId": None, "node": {**node, "childNodes": []}}]
    for child in children:
        adds += flatten(node["id"], child)
    return adds


def mark_root(node: Node, root: int) -> None:
    """Mark the nodes of a frame's document as rrweb does (``rootId``)."""
    for child in node.get("childNodes", []):
        child["rootId"] = root
        mark_root(child, root)


class RawVisitor:
    """A visitor that is not visitor.js: a bare WebSocket that starts a cobrowse session and
    sends the page it is given, again each time an agent joins (``keyframe``), on a thread
    of its own."""

    def __init__(self, server: Server, key: str, page: list[list[Event]]) -> None:
        self.url = server.base_url.replace("http://", "ws://") + "/ws/v1/session"
        self.key = key
        self.page = page
        self.started = threading.Event()
        self.stopping = asyncio.Event()
        self.heard: list[dict[str, Any]] = []  # what agents sent (the reliable messages)
        self.seq = 0  # the number of the last reliable frame sent
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.task: Future[None] = asyncio.run_coroutine_threadsafe(self.serve(), self.loop)
        if not self.started.wait(20):
            self.task.result(timeout=1)
            raise AssertionError("the raw visitor did not start")

    async def serve(self) -> None:
        async with connect(self.url, max_size=1 << 24) as socket:
            await socket.send(encode_frame({
                "t": "start", "v": "1.0", "group_id": GROUP, "key_kind": "named",
                "key": self.key, "session_type": "cobrowse", "client": "hostile/1"}))
            welcome = decode_frame(bytes(await socket.recv()), max_bytes=1 << 24)  # type: ignore[arg-type]
            assert welcome.type == "welcome", welcome.header
            await self.send_page(socket)
            self.started.set()
            receiving = asyncio.ensure_future(self.receive(socket))
            await self.stopping.wait()
            receiving.cancel()

    async def receive(self, socket: ClientConnection) -> None:
        while True:
            frame = decode_frame(bytes(await socket.recv()), max_bytes=1 << 24)  # type: ignore[arg-type]
            if frame.type == "keyframe":
                await self.send_page(socket)
            elif frame.type == "r":
                await socket.send(encode_frame({"t": "ack", "a": frame.header["s"]}))
                inner = decode_frame(frame.payload, max_bytes=1 << 24).header
                self.heard.append(inner)
                if inner["t"] == "rc_request":
                    self.seq += 1
                    await socket.send(encode_frame({"t": "rc", "enabled": True, "s": self.seq}))

    async def send_page(self, socket: ClientConnection) -> None:
        for i, batch in enumerate(self.page):
            self.seq += 1
            events = [{**event, "timestamp": now()} for event in batch]
            await socket.send(encode_frame({"t": "dom", "full": i == 0, "s": self.seq},
                                           json.dumps(events).encode()))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.stopping.set)
        try:
            self.task.result(10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()


def pump(page: Page, condition: Any, *, what: str, timeout: float = 20) -> None:
    """Wait until ``condition()`` holds, letting Playwright work meanwhile (its routes and
    events run only while the test waits on it)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(50)


def replay_settled(console: Page) -> bool:
    """Whether the replay has loaded or given up on every picture and font it asked for."""
    viewer = console.frame_locator("[data-testid=cobrowse-view]")
    settled: bool = viewer.locator("iframe").evaluate(
        "(f) => { const d = f.contentDocument; return Boolean(d) && d.fonts.status === 'loaded'"
        " && Array.from(d.images).every((i) => i.complete); }")
    return settled


def test_hostile_dom_runs_nothing_and_reaches_no_host_the_group_did_not_allow(
        browser: Browser, server: Server, beacons: Beacons, figure: Figure) -> None:
    """Script payloads sent as rrweb events run nowhere in the agent's console, resource
    payloads reach no host outside the group's trusted origins, and clobbering names neither
    freeze the replay nor let the agent's clicks and keys into it."""
    trusted = beacons.origin("shop.test")
    publish_settings(server, trusted_origins=[trusted])
    hostile = Hostile(beacons)
    page = [hostile.snapshot(), hostile.mutations()]
    visitor = RawVisitor(server, "hostile1", page)
    try:
        agent_context = browser.new_context(viewport={"width": 1400, "height": 1000})
        agent_context.add_init_script(HEAR)
        logged: list[str] = []

        def note(message: ConsoleMessage) -> None:
            logged.append(message.text)

        agent_context.on("console", note)
        console = console_join(agent_context, server, "hostile1")
        frame = replayed(console)
        expect(frame.locator("#title")).to_have_text("Hostile page")
        expect(frame.locator("#done")).to_have_count(1)
        # The replay shows the page: it loaded what the trusted origin serves.
        pump(console, lambda: {hit.path for hit in beacons.to("shop.test")} >= {
            "/ok/snapshot.gif", "/ok/mutation.gif"}, what="the replay's harmless pictures")

        # The agent clicks every link and button, looking, drawing and in control.
        for target in hostile.clicks:
            frame.locator(f"[id='{target}']").click(force=True)
        console.get_by_test_id("cobrowse-gesture").click()
        for target in hostile.clicks:
            frame.locator(f"[id='{target}']").click(force=True)
        console.get_by_test_id("cobrowse-gesture").click()
        frame.locator("#field").press_sequentially("typed by the agent")
        # Under remote control (the raw visitor grants it at once).
        console.get_by_test_id("rc-request").click()
        expect(console.get_by_test_id("rc-state")).to_have_text("on")
        for target in hostile.clicks:
            frame.locator(f"[id='{target}']").click(force=True)
        frame.locator("#field").press_sequentially("typed under control")
        pump(console, lambda: len([h for h in visitor.heard if h["t"] == "input"])
             >= len(hostile.clicks), what="the agent's clicks at the raw visitor")
        assert [h for h in visitor.heard if h["t"] == "gesture"]  # the clicks reached the viewer
        # The page says what it holds: the agent's clicks and keys changed nothing in it.
        expect(frame.locator("#box")).not_to_be_checked()
        expect(frame.locator("#shut")).not_to_have_attribute("open", "")
        expect(frame.locator("#field")).to_have_value("")
        pump(console, lambda: replay_settled(console), what="the replay's pictures and fonts")
        expect(frame.locator("#done")).to_have_count(1)  # still the replay: nothing navigated

        ran: set[int] = set()
        for text in logged:
            if (said := re.fullmatch(r"COVIEW-CANARY (\d+)", text)):
                ran.add(int(said.group(1)))
        for left, name, heard in console.evaluate(EVERY_WINDOW):
            ran |= {int(n) for n in left.split(",") if n}
            if name.startswith("coview-canary-"):
                ran.add(int(name.rsplit("-", 1)[1]))
            ran |= {int(m.rsplit(" ", 1)[1]) for m in heard}
        for hit in beacons.to("canary.test"):
            if hit.path.startswith("/hit?case="):
                ran.add(int(hit.path.split("=", 1)[1].split("&", 1)[0]))
        executed = sorted(hostile.scripts[n] for n in ran)
        far_hits = [hit for hit in beacons.hits if hit.host != "shop.test"]
        figure("hostile DOM payloads executed in the agent console",
               f"{len(executed)} of {len(hostile.scripts)}", "0")
        figure("requests from the replay to hosts the group did not allow",
               f"{len(far_hits)} of {len(hostile.fetches)}", "0")
        figure("DOM-clobbering names that froze the replay or let the agent's clicks and keys "
               "into it", f"0 of {len(CLOBBERED) * 5 + 3}", "0")
        assert executed == []
        assert far_hits == []
        agent_context.close()
    finally:
        visitor.close()


# -- coview_invoke from look-alike origins ------------------------------------------------

# In every window of the invoke test, before any script of the page: each postMessage records
# its target origin and whether one of Coview's scripts (served under /coview/) made it. A
# cross-origin window's own postMessage cannot be wrapped from here: the windows the test gives
# Coview (coviewWrap) and the parent and top of a frame are proxies that record and forward.
POSTS = """
(() => {
  const posts = [];
  window.coviewPosts = posts;
  const note = (origin, kind) => {
    const stack = String(new Error().stack || '');
    posts.push({ origin: String(origin && typeof origin === 'object' ? origin.targetOrigin
      : origin), kind, coview: stack.includes('/coview/') });
  };
  const wrap = (target) => new Proxy(target, {
    get(t, key) {
      if (key === 'postMessage') {
        return (message, origin, transfer) => {
          note(origin, 'window');
          return t.postMessage(message, origin, transfer);
        };
      }
      const value = Reflect.get(t, key);
      return typeof value === 'function' ? value.bind(t) : value;
    },
  });
  window.coviewWrap = wrap;
  const own = window.postMessage;
  window.postMessage = function (message, origin, transfer) {
    note(origin, 'own');
    return own.call(window, message, origin, transfer);
  };
  const port = MessagePort.prototype.postMessage;
  MessagePort.prototype.postMessage = function (...args) {
    note('', 'port');
    return port.apply(this, args);
  };
  if (window.parent !== window) {
    const [parent, top] = [window.parent, window.top];
    Object.defineProperty(window, 'parent', { get: () => wrap(parent), configurable: true });
    Object.defineProperty(window, 'top', { get: () => wrap(top), configurable: true });
  }
})();
"""

# A chat window of any origin that frames the visitor's page and loads invoke.js; NULL holds a
# frame sandboxed with scripts (its origin is "null") that acts when told to.
CHAT = """<!doctype html><html><body>
<iframe id="visitor" src="VISITOR" width="600" height="200"></iframe>
NULL
<script src="SERVER/coview/invoke.js"></script>
</body></html>"""
NULL_FRAME = """<iframe id="null" sandbox="allow-scripts" srcdoc="
<script src='SERVER/coview/invoke.js'></script>
<script>
addEventListener('message', (e) => {
  if (e.data !== 'go') return;
  const target = coviewWrap(parent.frames[0]);
  target.postMessage({coview_invoke: {func: 'startSession', args: {sessionKey: 'nullraw'},
                                      groupid: GROUP}}, '*');
  COVIEW.Cobrowse.InvokeVisitor.init(target, GROUP, 'SHOP');
  COVIEW.Cobrowse.InvokeVisitor.invoke('startSession', {sessionKey: 'nullinvoke'});
  target.postMessage({coview_test_marker: 'null'}, '*');
});
</script>"></iframe>"""
# The visitor's page keeps the test's markers: a window's messages arrive in order, so a
# marker seen means the invoke messages before it were dispatched.
SHOP = """<h1>Shop</h1><script>
addEventListener('message', (e) => {
  if (e.data && e.data.coview_test_marker) {
    (window.coviewMarkers = window.coviewMarkers || []).push(e.data.coview_test_marker);
  }
});
</script>"""
# What a look-alike's page does: the raw message, then Coview's invoke.js, then the marker.
INVOKE = """([name, shop, group]) => {
  const target = coviewWrap(document.getElementById('visitor').contentWindow);
  target.postMessage({coview_invoke: {func: 'startSession', args: {sessionKey: name + 'raw'},
                                      groupid: group}}, '*');
  COVIEW.Cobrowse.InvokeVisitor.init(target, group, shop);
  COVIEW.Cobrowse.InvokeVisitor.invoke('startSession', {sessionKey: name + 'invoke'});
  target.postMessage({coview_test_marker: name}, '*');
}"""

WEB_SOURCES = Path(__file__).resolve().parents[2] / "web" / "src"


@pytest.fixture(scope="module")
def sites(server: Server) -> Iterator[tuple[Site, Site]]:
    """The customer's site, and the same names on another port."""
    shop, other = Site(server.base_url), Site(server.base_url)
    yield shop, other
    shop.close()
    other.close()


def arguments_at(text: str, start: int) -> str:
    """The text of a call's arguments, from just after its opening parenthesis."""
    depth = 1
    for end in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[end], 0)
        if depth == 0:
            return text[start:end]
    return text[start:]


def posts_to_any_origin_in_web_sources() -> list[str]:
    """postMessage calls in Coview's browser sources whose target origin is '*'."""
    found = []
    for path in sorted(WEB_SOURCES.rglob("*.js")):
        text = path.read_text()
        for call in re.finditer(r"postMessage\s*\(", text):
            arguments = arguments_at(text, call.end())
            if re.search(r"""(["'`])\*\1""", arguments):
                found.append(f"{path.relative_to(WEB_SOURCES)}: postMessage({arguments})")
    # rrweb's recorder posts to '*' from a cross-origin frame only with this option.
    if re.search(r"recordCrossOriginIframes\s*:\s*true", (WEB_SOURCES / "visitor" /
                                                            "recorder.js").read_text()):
        found.append("visitor/recorder.js: recordCrossOriginIframes: true")
    return found


def test_coview_invoke_from_look_alike_origins_is_obeyed_never_and_coview_posts_to_no_star(
        browser: Browser, server: Server, sites: tuple[Site, Site], figure: Figure) -> None:
    """coview_invoke from a look-alike host, a look-alike path, another port or a sandboxed
    frame of a trusted page (origin null) starts nothing, while the trusted page's does, and
    Coview's scripts never post a message to '*'."""
    site, other = sites
    chat = site.origin("chat.test")
    shop = site.origin()
    publish_settings(server, trusted_origins=[shop, chat])
    site.pages["/shop"] = SHOP
    page_of = CHAT.replace("VISITOR", shop + "/shop").replace("SERVER", server.base_url)
    plain = page_of.replace("NULL", "").encode()
    site.raw["/chat"] = ("text/html", page_of.replace("NULL", NULL_FRAME).replace(
        "SERVER", server.base_url).replace("GROUP", str(GROUP)).replace("SHOP", shop).encode())
    look_alike_path = f"/chat.test:{site.port}/chat"  # http://evil.test:PORT/chat.test:PORT/chat
    site.raw[look_alike_path] = ("text/html", plain)
    other.raw["/chat"] = ("text/html", plain)
    looks = {"host": site.origin("chat.test.evil.test") + "/chat",
             "path": site.origin("evil.test") + look_alike_path,
             "port": other.origin("chat.test") + "/chat"}

    context = browser.new_context()
    context.add_init_script(POSTS)
    pages = {name: context.new_page() for name in [*looks, "trusted"]}
    for name, url in [*looks.items(), ("trusted", chat + "/chat")]:
        pages[name].goto(url)
    shops = {name: next(f for f in p.frames if f.url == shop + "/shop")
             for name, p in pages.items()}
    for frame in shops.values():
        frame.wait_for_function("window.COVIEW && window.COVIEW.Cobrowse.Visitor")

    # Each look-alike tries, raw and through invoke.js; the null frame in the trusted page too.
    for name in looks:
        pages[name].evaluate(INVOKE, [name, shop, GROUP])
    pages["trusted"].evaluate("document.getElementById('null').contentWindow.postMessage("
                              "'go', '*')")
    for name, frame in shops.items():
        marker = "null" if name == "trusted" else name
        frame.wait_for_function(f"(window.coviewMarkers || []).includes('{marker}')")
        # It read the group's trusted origins (what its decision waits for) and decided.
        frame.wait_for_function(
            "performance.getEntriesByType('resource').some("
            "e => e.name.includes('/cobrowse/') && e.responseEnd > 0)")
        frame.evaluate("new Promise((r) => setTimeout(() => setTimeout(r, 0), 0))")
    obeyed = {name: len(events(frame, "sessionstarting")) for name, frame in shops.items()}

    # The trusted page is obeyed; invoke.js names the visitor's origin, never '*'.
    refused = pages["trusted"].evaluate(f"""() => {{
        const target = coviewWrap(document.getElementById('visitor').contentWindow);
        const refused = [];
        for (const origin of [undefined, '', '*']) {{
          try {{
            COVIEW.Cobrowse.InvokeVisitor.init(target, {GROUP}, origin);
          }} catch (err) {{
            refused.push(String(origin));
          }}
        }}
        COVIEW.Cobrowse.InvokeVisitor.init(target, {GROUP}, '{shop}');
        COVIEW.Cobrowse.InvokeVisitor.invoke('startSession', {{sessionKey: 'fromchat'}});
        return refused;
    }}""")
    assert refused == ["undefined", "", "*"]
    assert wait_event(shops["trusted"], "sessionstart")["sessionkey"] == "fromchat"
    pages["trusted"].evaluate("() => COVIEW.Cobrowse.InvokeVisitor.invoke('stopSession')")
    assert wait_event(shops["trusted"], "sessionend") == {"reason": "visitor"}

    posts = [post for p in pages.values() for f in p.frames for post in f.evaluate(
        "window.coviewPosts || []")]
    coview = [post for post in posts if post["coview"]]
    to_any = [post for post in coview if post["origin"] == "*"]
    in_sources = posts_to_any_origin_in_web_sources()
    attempts = 2 * (len(looks) + 1)  # raw and through invoke.js, from each
    figure("coview_invoke obeyed from look-alike origins (host, path, port, sandboxed null)",
           f"{sum(obeyed.values())} of {attempts}", "0")
    figure("messages Coview's scripts posted to '*' (in the browser; calls in web/src)",
           f"{len(to_any)} of {len(coview)}; {len(in_sources)}", "0; 0")
    assert obeyed == {name: 0 for name in shops}
    assert to_any == []
    assert in_sources == []
    # The wrappers saw Coview post: invoke.js from each page and from the null frame.
    assert len([post for post in coview if post["origin"] == shop]) >= len(looks) + 2
    context.close()
