"""The message bus: what server processes share that is not a record.

``base.Bus`` is the interface; ``memory.MemoryBus`` is the in-process default for a single
``coview serve`` process; ``redis.RedisBus`` fills the same interface in Redis for several
processes (key claims and throttle counters). ``replicas.SessionReplicas`` is what the hub asks
of the other processes (``LocalReplicas`` on one process, ``cluster.Cluster`` scaled out).
The Redis modules are imported only with ``--redis-url``.
"""

from coview.bus.base import Bus
from coview.bus.memory import MemoryBus

__all__ = ["Bus", "MemoryBus"]
