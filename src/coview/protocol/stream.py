"""Frames over a byte stream (the HTTP tunnel): each frame prefixed by its 4-byte length."""

from __future__ import annotations

from collections.abc import Iterable

from coview.protocol.frames import ProtocolError


def pack_frames(frames: Iterable[bytes]) -> bytes:
    """Concatenate frames, each after its big-endian 4-byte length."""
    return b"".join(len(f).to_bytes(4, "big") + f for f in frames)


def unpack_frames(data: bytes, *, max_frame: int) -> list[bytes]:
    """Split what ``pack_frames`` made; raise ProtocolError on a truncated or oversized frame."""
    frames, at = [], 0
    while at < len(data):
        if at + 4 > len(data):
            raise ProtocolError("truncated frame length")
        size = int.from_bytes(data[at:at + 4], "big")
        if size > max_frame or at + 4 + size > len(data):
            raise ProtocolError("frame length out of bounds")
        frames.append(data[at + 4:at + 4 + size])
        at += 4 + size
    return frames
