"""The session protocol, sans I/O: frames, reliable delivery with resume, the client endpoint.

Nothing here touches a socket, a loop or the clock: bytes and ``now`` go in, frames and events
come out. The server, the visitor SDK and the agent client are pumps around it.
See docs/protocol.md.
"""

from coview.protocol.frames import Frame, ProtocolError, decode_frame, encode_frame
from coview.protocol.version import PROTOCOL_VERSION, VersionCheck, check_version

__all__ = [
    "PROTOCOL_VERSION",
    "Frame",
    "ProtocolError",
    "VersionCheck",
    "check_version",
    "decode_frame",
    "encode_frame",
]
