"""Frames: one protocol message each, a JSON header (the envelope) and opaque payload bytes.

Layout: 2-byte big-endian header length, the header as UTF-8 JSON (an object with a string
``t``, the message type), then the payload. Relays read headers and forward payloads untouched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from coview.errors import CoviewError

MAX_HEADER_BYTES = 16 * 1024


class ProtocolError(CoviewError):
    """A peer sent something the protocol does not allow."""

    code = "protocol_error"


@dataclass(frozen=True, slots=True)
class Frame:
    """A decoded frame. The payload is cut from the frame's bytes only when asked for: a relay
    forwards whole frames and never copies their payloads (a page snapshot can be megabytes)."""

    header: dict[str, Any]
    data: bytes = field(default=b"", repr=False)  # the whole frame
    offset: int = 0  # where the payload starts in ``data``

    @property
    def payload(self) -> bytes:
        return self.data[self.offset:]

    @property
    def type(self) -> str:
        kind: str = self.header["t"]
        return kind


def encode_frame(header: dict[str, Any], payload: bytes = b"") -> bytes:
    """Encode a header and payload as one frame."""
    data = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    if len(data) > MAX_HEADER_BYTES:
        raise ProtocolError(f"frame header is {len(data)} bytes, over {MAX_HEADER_BYTES}")
    return len(data).to_bytes(2, "big") + data + payload


def encode_relayed(seq: int, sender: int, inner: bytes) -> bytes:
    """``encode_frame({"t": "r", "s": seq, "from": sender}, inner)``, built without JSON
    encoding: the relay wraps every message it forwards, so this is on its hottest path."""
    header = b'{"t":"r","s":%d,"from":%d}' % (seq, sender)
    return len(header).to_bytes(2, "big") + header + inner


def decode_frame(data: bytes, *, max_bytes: int) -> Frame:
    """Decode one frame, checking every bound; raise ProtocolError if it is malformed."""
    if len(data) > max_bytes:
        raise ProtocolError(f"frame is {len(data)} bytes, over {max_bytes}")
    if len(data) < 2:
        raise ProtocolError("frame is shorter than its length prefix")
    size = int.from_bytes(data[:2], "big")
    if size > MAX_HEADER_BYTES or 2 + size > len(data):
        raise ProtocolError("frame header length is out of bounds")
    try:
        header = json.loads(data[2:2 + size])
    except (ValueError, RecursionError):
        # ValueError covers malformed JSON, bad UTF-8 and integers past Python's digit limit.
        raise ProtocolError("frame header is not JSON") from None
    if not isinstance(header, dict) or not isinstance(header.get("t"), str):
        raise ProtocolError("frame header is not an object with a string 't'")
    return Frame(header, data if isinstance(data, bytes) else bytes(data), 2 + size)

