"""The cobrowse relay: a visitor's page events reach every agent byte for byte, an agent who
joins late gets the latest full snapshot and what followed, the buffer is bounded, and the
group's public cobrowse settings and the viewer's policy are served to the right callers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect

from coview.protocol.frames import Frame, decode_frame, encode_frame
from coview.server.publish import PAGE_MAX_BYTES
from tests.cobrowse_support import publish_settings
from tests.conftest import Server, run_async, start_server
from tests.helpers import error_code, login

pytestmark = pytest.mark.e2e

TRUSTED = "http://shop.test:8080"


@pytest.fixture(scope="module")
def relay_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp: Path = tmp_path_factory.mktemp("relay")
    running = start_server(tmp, ["--data-dir", str(tmp / "data")])
    publish_settings(running, trusted_origins=[TRUSTED])
    yield running
    running.stop()


def dom(seq: int, events: list[object], *, full: bool = False) -> bytes:
    return encode_frame({"t": "dom", "full": full, "s": seq}, json.dumps(events).encode())


async def receive(ws: ClientConnection, kind: str) -> Frame:
    """The next frame of ``kind`` (reliable ones unwrapped), skipping others."""
    while True:
        frame = decode_frame(bytes(await ws.recv()), max_bytes=1 << 30)  # type: ignore[arg-type]
        if frame.type == "r":
            inner = decode_frame(frame.payload, max_bytes=1 << 30)
            if inner.type == kind:
                return inner
        elif frame.type == kind:
            return frame


def test_late_agents_get_the_latest_snapshot_and_what_followed_untouched(
        relay_server: Server) -> None:
    with relay_server.client() as client:
        token = login(client, relay_server.demo_password)
    ws_url = relay_server.base_url.replace("http://", "ws://") + "/ws/v1/session"

    async def run() -> None:
        async with connect(ws_url, max_size=None) as visitor:
            await visitor.send(encode_frame({"t": "start", "v": "1.0", "group_id": 12345,
                                             "key_kind": "random",
                                             "session_type": "cobrowse"}))
            welcome = await receive(visitor, "welcome")
            key = welcome.header["key"]
            assert welcome.header["state"]["session_type"] == "cobrowse"
            old = [dom(1, [{"type": 4, "old": True}], full=True), dom(2, [{"n": 1}])]
            page = [dom(3, [{"type": 4}, {"type": 2, "big": "x" * 100_000}], full=True),
                    dom(4, [{"n": 2}]), dom(5, [{"n": 3, "text": "é ünïcode"}])]
            for frame in old + page:
                await visitor.send(frame)
            while (await receive(visitor, "ack")).header["a"] < 5:  # acks coalesce
                pass

            async with connect(ws_url, max_size=None) as agent:
                await agent.send(encode_frame({"t": "join", "v": "1.0", "key": key,
                                               "token": token}))
                joined = await receive(agent, "welcome")
                assert joined.header["downlink_last"] >= 5
                caught = [await receive(agent, "catchup") for _ in page]
                # each is the log item as relayed: the visitor's frame, byte for byte
                assert [decode_frame(c.payload, max_bytes=1 << 30).payload for c in caught] \
                    == page
                assert (await receive(visitor, "keyframe")).type == "keyframe"
                # What the visitor sends next reaches the agent, untouched.
                await visitor.send(dom(6, [{"n": 4}]))
                live = await receive(agent, "dom")
                assert live.header == {"t": "dom", "full": False, "s": 6}
                assert json.loads(live.payload) == [{"n": 4}]

            # Past the bound, the buffer is dropped and the visitor asked for a snapshot.
            chunk = "y" * (1024 * 1024)
            seq = 7
            for seq in range(7, 7 + PAGE_MAX_BYTES // len(chunk) + 2):
                await visitor.send(dom(seq, [{"c": chunk}]))
            assert (await receive(visitor, "keyframe")).type == "keyframe"
            async with connect(ws_url, max_size=None) as late:
                await late.send(encode_frame({"t": "join", "v": "1.0", "key": key,
                                              "token": token}))
                await receive(late, "welcome")
                # Nothing to catch up on until the visitor's next full snapshot...
                await visitor.send(dom(seq + 1, [{"type": 4, "fresh": True}], full=True))
                fresh = await receive(late, "dom")
                assert json.loads(fresh.payload) == [{"type": 4, "fresh": True}]

    run_async(run())


def test_the_cobrowse_settings_go_to_trusted_pages_only(relay_server: Server) -> None:
    with relay_server.client() as client:
        answer = client.get("/api/v1/cobrowse/12345/config", headers={"Origin": TRUSTED})
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == TRUSTED
        body = answer.json()
        assert body["trusted_origins"] == [TRUSTED]
        assert body["mask_all_inputs"] is True
        assert "visitor_token_secret" not in answer.text
        refused = client.get("/api/v1/cobrowse/12345/config",
                             headers={"Origin": "http://shop.test.evil.test:8080"})
        assert refused.status_code == 403
        assert "access-control-allow-origin" not in refused.headers
        assert error_code(client.get("/api/v1/cobrowse/999/config")) == "not_found"
        assert client.get("/api/v1/cobrowse/0/config").status_code == 422
        viewer = client.get("/viewer/cobrowse?group_id=12345")
        assert viewer.status_code == 200
        policy = viewer.headers["content-security-policy"]
        assert policy.startswith("default-src 'none'; script-src 'self';")
        assert f"img-src 'self' data: blob: {TRUSTED};" in policy
        assert viewer.headers["x-frame-options"] == "SAMEORIGIN"
        assert client.get("/viewer/cobrowse?group_id=999").status_code == 404
        assert client.get("/viewer/cobrowse?group_id=abc").status_code == 422
