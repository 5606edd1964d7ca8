"""Length-prefixed frames over a byte stream (the HTTP tunnel)."""

from __future__ import annotations

import pytest

from coview.protocol.frames import ProtocolError
from coview.protocol.stream import pack_frames, unpack_frames


def test_round_trip() -> None:
    """Packed frames unpack to the same frames, empty ones included."""
    frames = [b"a", b"", b"\x00" * 300]
    assert unpack_frames(pack_frames(frames), max_frame=1000) == frames
    assert unpack_frames(b"", max_frame=10) == []


@pytest.mark.parametrize(
    "data", [b"\x00\x00", b"\x00\x00\x00\x05abc", b"\x00\x00\x10\x00" + b"a" * 4096])
def test_truncated_or_oversized(data: bytes) -> None:
    """A cut-off length, a frame shorter than its length, or one over the bound is an error."""
    with pytest.raises(ProtocolError):
        unpack_frames(data, max_frame=1000)
