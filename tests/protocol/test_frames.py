"""Frames: a JSON header and opaque payload, every bound checked."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coview.protocol.frames import (
    MAX_HEADER_BYTES,
    ProtocolError,
    decode_frame,
    encode_frame,
    encode_relayed,
)


def test_round_trip_keeps_payload_bytes() -> None:
    """A frame decodes to its header and the exact payload bytes."""
    payload = bytes(range(256)) * 4
    frame = decode_frame(encode_frame({"t": "tile", "x": 64}, payload), max_bytes=10_000)
    assert frame.header == {"t": "tile", "x": 64}
    assert frame.payload == payload
    assert frame.type == "tile"


@pytest.mark.parametrize("data", [
    b"", b"\x00", b"\x00\x05{}", b"\x00\x02[]", b"\x00\x02{}", b"\x00\x0b{\"t\": 5}xx",
    b"\x00\x03\xff\xfe\xfd", b"\xff\xff" + b"{" * 10,
])
def test_malformed_frames_are_protocol_errors(data: bytes) -> None:
    """Truncated, non-JSON, non-object or typeless headers raise ProtocolError."""
    with pytest.raises(ProtocolError):
        decode_frame(data, max_bytes=1000)


def test_bounds() -> None:
    """Frames over the size bound and headers over 16 KiB are refused."""
    with pytest.raises(ProtocolError):
        decode_frame(encode_frame({"t": "x"}, b"a" * 100), max_bytes=50)
    with pytest.raises(ProtocolError):
        encode_frame({"t": "x", "pad": "a" * MAX_HEADER_BYTES})


@given(st.integers(min_value=0, max_value=2**53), st.integers(min_value=-1, max_value=10**6),
       st.binary(max_size=64))
def test_relayed_wrapper_is_the_json_frame(seq: int, sender: int, inner: bytes) -> None:
    assert encode_relayed(seq, sender, inner) == encode_frame(
        {"t": "r", "s": seq, "from": sender}, inner)
