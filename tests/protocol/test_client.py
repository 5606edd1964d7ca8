"""The client endpoint: handshake, delivery, acknowledgement, and resume after a drop."""

from __future__ import annotations

import pytest

from coview.protocol.client import (
    ACK_INTERVAL,
    ClientEndpoint,
    ClientState,
    ConnectionExpired,
    ConnectionLost,
    ConnectionRestored,
    Delivered,
    InvalidTransition,
    Refused,
    Replaced,
    Welcomed,
)
from coview.protocol.frames import ProtocolError, decode_frame, encode_frame


def relayed(seq: int, header: dict[str, object], payload: bytes = b"") -> bytes:
    return encode_frame({"t": "r", "s": seq}, encode_frame(header, payload))


def welcome(**extra: object) -> bytes:
    return encode_frame({"t": "welcome", "session_id": "S1", "resume_token": "tok",
                         "downlink_last": 0, "a": 0, **extra})


def opened() -> ClientEndpoint:
    endpoint = ClientEndpoint({"t": "start", "key": "1234"}, reconnect_window=60)
    endpoint.transport_opened(0)
    hello = decode_frame(endpoint.data_to_send()[0], max_bytes=1000)
    assert hello.header["t"] == "start"
    assert hello.header["v"] == "1.0"
    [event] = endpoint.receive(welcome(), 0)
    assert isinstance(event, Welcomed)
    return endpoint


def test_refused_closes() -> None:
    """A refusal closes the endpoint and says why."""
    endpoint = ClientEndpoint({"t": "join", "key": "1"})
    endpoint.transport_opened(0)
    events = endpoint.receive(encode_frame({"t": "refused", "code": "not_found",
                                            "message": "no session"}), 0)
    assert events == [Refused("not_found", "no session")]
    assert endpoint.state is ClientState.CLOSED
    with pytest.raises(InvalidTransition):
        endpoint.send({"t": "x"}, reliable=True)


def test_replaced_closes_without_resuming() -> None:
    """Another connection resumed our place: closed, and a drop after it resumes nothing
    (the browser's protocol.js does the same), so two connections never take turns."""
    endpoint = opened()
    endpoint.send({"t": "paused", "paused": True}, reliable=True)
    endpoint.data_to_send()
    assert endpoint.receive(encode_frame({"t": "replaced"}), 1) == [Replaced()]
    assert endpoint.state is ClientState.CLOSED
    assert endpoint.transport_lost(2) == []
    assert endpoint.data_to_send() == []
    assert endpoint.receive(relayed(1, {"t": "guests"}), 3) == []


def test_messages_before_welcome_are_errors() -> None:
    """The server must welcome before anything else."""
    endpoint = ClientEndpoint({"t": "join", "key": "1"})
    endpoint.transport_opened(0)
    with pytest.raises(ProtocolError):
        endpoint.receive(relayed(1, {"t": "guests"}), 0)


def test_reliable_messages_delivered_once_and_acknowledged() -> None:
    """Each relayed message is delivered once, and the highest is acknowledged."""
    endpoint = opened()
    first = endpoint.receive(relayed(1, {"t": "guests", "count": 1}, b"p"), 1)
    again = endpoint.receive(relayed(1, {"t": "guests", "count": 1}), 1)
    assert first == [Delivered({"t": "guests", "count": 1}, b"p", reliable=True)]
    assert again == []
    [ack] = endpoint.data_to_send()
    assert decode_frame(ack, max_bytes=100).header == {"t": "ack", "a": 1}
    assert endpoint.data_to_send() == []


def test_acknowledgements_are_cumulative_and_at_most_one_per_interval() -> None:
    """A burst of relayed messages gets one acknowledgement at once and one more for the rest
    when the interval has passed, not one per message."""
    endpoint = opened()
    acks: list[int] = []

    def sent(now: float) -> None:
        acks.extend(decode_frame(f, max_bytes=100).header["a"]
                    for f in endpoint.data_to_send(now))

    endpoint.receive(relayed(1, {"t": "guests"}), 10.0)
    sent(10.0)
    for seq in range(2, 50):
        endpoint.receive(relayed(seq, {"t": "dom"}), 10.001)
        sent(10.001)
    assert acks == [1]
    assert endpoint.ack_due() == pytest.approx(10.0 + ACK_INTERVAL)
    sent(10.0 + ACK_INTERVAL)
    assert acks == [1, 49]
    assert endpoint.ack_due() is None
    sent(11.0)
    assert acks == [1, 49]


def test_volatile_messages_pass_through() -> None:
    """An unsequenced message is delivered as volatile."""
    endpoint = opened()
    events = endpoint.receive(encode_frame({"t": "tile", "x": 0}, b"jpeg"), 1)
    assert events == [Delivered({"t": "tile", "x": 0}, b"jpeg", reliable=False)]


def test_drop_resume_replays_unacknowledged_and_loses_nothing() -> None:
    """After a drop, the endpoint resumes from what each side has and resends the rest."""
    endpoint = opened()
    endpoint.send({"t": "paused", "paused": True}, reliable=True)
    endpoint.send({"t": "paused", "paused": False}, reliable=True)
    sent = endpoint.data_to_send()
    assert [decode_frame(f, max_bytes=100).header["s"] for f in sent] == [1, 2]
    endpoint.receive(relayed(1, {"t": "guests", "count": 1}), 1)
    endpoint.receive(encode_frame({"t": "ack", "a": 1}), 1)

    [lost] = endpoint.transport_lost(10)
    assert lost == ConnectionLost(70)
    endpoint.send({"t": "paused", "paused": True}, reliable=True)  # queued while away
    endpoint.send({"t": "tile"}, b"dropped", reliable=False)  # volatile: not kept
    assert endpoint.tick(69) == []
    endpoint.transport_opened(20)
    [resume] = endpoint.data_to_send()
    header = decode_frame(resume, max_bytes=1000).header
    assert header == {"t": "resume", "v": "1.0", "session_id": "S1", "token": "tok", "a": 1}

    events = endpoint.receive(welcome(resumed=True, a=1), 21)
    assert events == [ConnectionRestored()]
    resent = [decode_frame(f, max_bytes=100).header for f in endpoint.data_to_send()]
    assert [(h["s"], h["paused"]) for h in resent] == [(2, False), (3, True)]
    replayed = endpoint.receive(relayed(2, {"t": "guests", "count": 2}), 21)
    assert [e.header["count"] for e in replayed if isinstance(e, Delivered)] == [2]


def test_window_expiry_closes() -> None:
    """No resume before the window ends: the connection is expired for good."""
    endpoint = opened()
    endpoint.transport_lost(5)
    assert endpoint.tick(64.9) == []
    assert endpoint.tick(65) == [ConnectionExpired()]
    assert endpoint.state is ClientState.CLOSED


def test_the_server_sets_the_window() -> None:
    """The reconnect window is the one the server's welcome announces (the group setting)."""
    endpoint = ClientEndpoint({"t": "start"}, reconnect_window=60)
    endpoint.transport_opened(0)
    endpoint.receive(welcome(reconnect_window=5), 0)
    assert endpoint.transport_lost(10) == [ConnectionLost(15)]


def test_resume_without_replay_resets_the_downlink() -> None:
    """If the server cannot replay, the welcome starts the downlink afresh with its state."""
    endpoint = opened()
    endpoint.receive(relayed(1, {"t": "guests"}), 1)
    endpoint.transport_lost(2)
    endpoint.transport_opened(3)
    endpoint.data_to_send()
    events = endpoint.receive(welcome(resumed=False, downlink_last=40, a=0), 3)
    assert isinstance(events[0], ConnectionRestored)
    assert isinstance(events[1], Welcomed)
    assert endpoint.receive(relayed(41, {"t": "guests"}), 4) != []
