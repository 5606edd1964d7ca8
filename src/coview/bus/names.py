"""The names of what server processes share through the bus, built in one place.

Every name here is relative: a bus puts its own prefix before it (``coview:`` in Redis).
"""

from __future__ import annotations

from typing import Any

# What travels on a session's channel between processes: the first byte says which.
TO_AGENTS = b"a"
TO_VISITOR = b"v"
VOLATILE = b"t"
MOVED = b"x"  # the session has a new owner: forwarded clients reconnect

# The direct messages between server processes (``Cluster.send`` and ``Cluster.handlers``), by
# type: what each asks of the process that gets it.
PROCESS_MESSAGES = {
    "open": "a client reached another process: serve it here, as a remote connection",
    "data": "a forwarded client's frame",
    "gone": "a forwarded client closed",
    "rel": "a frame for a forwarded client, to be delivered",
    "vol": "a volatile frame for a forwarded client (a tile: may be dropped)",
    "clear": "drop a forwarded client's volatile frames",
    "close": "the owner closed a forwarded client",
    "kill": "end a session this process runs",
    "signout": "an agent's sign-ins were revoked: it leaves every session here",
    "oneclick": "an agent asks a visitor connected here for a one-click session",
    "pstarted": "a one-click session started for a visitor connected here",
    "tun": "a request for one of this process's HTTP tunnels",
    "tunr": "the answer to a tunnel request this process passed on",
}

# One Redis command for the cluster's ordered pipeline: its name, arguments and keywords.
Command = tuple[str, tuple[Any, ...], dict[str, Any]]


def key_claim(group_id: int, key: str) -> str:
    """The claim that makes a session key unique in its group, across every process."""
    return f"key:{group_id}:{key}"


class ClusterKeys:
    """The Redis names of a scaled-out server's shared sessions, presence and processes, under
    one prefix (``coview:`` unless configured), as the bus's own keys are.

    ``proc:P`` a process's heartbeat; ``procs`` the processes; ``owner:S`` the process running
    session S; ``owned:P`` its sessions; ``state:S`` the session's state (JSON); ``inbox:S``
    the last message number taken from each party; ``log:S:a`` and ``log:S:v`` the streams of
    messages to agents and to the visitor; ``call:C`` a call ID's session; ``live:G`` a group's
    sessions by start time; ``ended:S`` why a session ended; ``presence:G`` each process's view
    of the group's online visitors; ``presences:P`` what P wrote there; ``oneclick:G:V`` a
    visitor's one-click request; ``once:N`` news one process has sent. Channels: ``to:P`` one
    process's messages, ``s:S`` one session's.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.procs = prefix + "procs"

    def full(self, name: str) -> str:
        """A relative name (such as :func:`key_claim`'s) under the prefix."""
        return self.prefix + name

    def proc(self, proc: str) -> str:
        return f"{self.prefix}proc:{proc}"

    def owner(self, sid: str) -> str:
        return f"{self.prefix}owner:{sid}"

    def owned(self, proc: str) -> str:
        return f"{self.prefix}owned:{proc}"

    def state(self, sid: str) -> str:
        return f"{self.prefix}state:{sid}"

    def inbox(self, sid: str) -> str:
        return f"{self.prefix}inbox:{sid}"

    def log(self, sid: str, direction: str) -> str:
        """``direction``: ``a`` to the agents, ``v`` to the visitor."""
        return f"{self.prefix}log:{sid}:{direction}"

    def call(self, call_id: int) -> str:
        return f"{self.prefix}call:{call_id}"

    def live(self, group_id: int) -> str:
        return f"{self.prefix}live:{group_id}"

    def ended(self, sid: str) -> str:
        return f"{self.prefix}ended:{sid}"

    def presence(self, group_id: int | str) -> str:
        return f"{self.prefix}presence:{group_id}"

    def presences(self, proc: str) -> str:
        return f"{self.prefix}presences:{proc}"

    def one_click(self, group_id: int, visitor_id: str) -> str:
        return f"{self.prefix}oneclick:{group_id}:{visitor_id}"

    def once(self, name: str) -> str:
        return f"{self.prefix}once:{name}"

    def process_channel(self, proc: str) -> str:
        return f"{self.prefix}to:{proc}"

    def session_channel(self, sid: str) -> str:
        return f"{self.prefix}s:{sid}"
