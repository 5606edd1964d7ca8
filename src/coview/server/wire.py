"""WebSocket frames a server writes, made without websockets' per-frame objects.

A relayed message goes to every reader without compression as the same bytes; building them
here costs a header and a copy, where websockets' ``send_binary`` builds and checks a frame
object for each reader (docs/performance.md, cobrowse relay).
"""

from __future__ import annotations

import struct

_HEAD16 = struct.Struct("!BBH")
_HEAD64 = struct.Struct("!BBQ")


def binary_frame(payload: bytes) -> bytes:
    """A final, unmasked binary WebSocket frame holding ``payload`` (RFC 6455, 5.2): what
    websockets' ``send_binary`` writes for a server without extensions, made without its
    per-frame objects. A relayed message goes to each reader as these same bytes."""
    length = len(payload)
    if length < 126:
        head = bytes((0x82, length))
    elif length < 65536:
        head = _HEAD16.pack(0x82, 126, length)
    else:
        head = _HEAD64.pack(0x82, 127, length)
    return head + payload
