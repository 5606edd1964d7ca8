"""The message bus: what server processes share that is not a record.

``base.Bus`` is the interface; ``memory.MemoryBus`` is the in-process default for a single
``coview serve`` process; ``redis.RedisBus`` fills the same interface in Redis for several
processes (key claims and throttle counters so far; the session logs and presence come with
the scale-out issue, and until then ``coview serve`` runs one process with the in-process bus).
"""

from coview.bus.base import Bus
from coview.bus.memory import MemoryBus

__all__ = ["Bus", "MemoryBus"]
