"""Messages the server builds, defined once (``coview.protocol.messages``)."""

from __future__ import annotations

from coview.protocol.client import ClientEndpoint, Welcomed
from coview.protocol.frames import decode_frame
from coview.protocol.messages import Welcome


def test_a_welcome_carries_only_the_fields_that_apply() -> None:
    first = Welcome(session_id="S", call_id=7, key="123456", reconnect_window=60,
                    state={"paused": False}, resume_token="tok", persist=True)
    assert decode_frame(first.frame(), max_bytes=1000).header == {
        "t": "welcome", "session_id": "S", "call_id": 7, "key": "123456", "downlink_last": 0,
        "a": 0, "reconnect_window": 60, "state": {"paused": False}, "resume_token": "tok",
        "persist": True}
    resumed = Welcome(session_id="S", call_id=7, key="123456", reconnect_window=60,
                      state={}, downlink_last=12, a=4, num=0, resumed=True).header()
    assert resumed["num"] == 0  # the visitor's number is said on a resume
    assert "resume_token" not in resumed
    assert "persist" not in resumed


def test_the_client_endpoint_reads_what_the_server_builds() -> None:
    endpoint = ClientEndpoint({"t": "join", "key": "123456"})
    endpoint.transport_opened(0)
    welcome = Welcome(session_id="S", call_id=7, key="123456", reconnect_window=30,
                      state={}, downlink_last=5, num=2, resume_token="tok")
    [event] = endpoint.receive(welcome.frame(), 0)
    assert isinstance(event, Welcomed)
    assert endpoint.session_id == "S"
    assert endpoint.reconnect_window == 30
    assert event.info["num"] == 2
