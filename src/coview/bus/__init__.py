"""The message bus: what server processes share that is not a record.

``base.Bus`` is the interface; ``memory.MemoryBus`` is the in-process default for a single
``coview serve`` process. A Redis implementation fills the same interface for several processes.
"""

from coview.bus.base import Bus
from coview.bus.memory import MemoryBus

__all__ = ["Bus", "MemoryBus"]
