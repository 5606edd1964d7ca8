"""An asyncio loop on a thread of its own: how the synchronous SDK objects run their network."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from coview.errors import Conflict

T = TypeVar("T")


class BackgroundLoop:
    """Runs coroutines on a daemon thread; ``stop()`` cancels what is left and closes cleanly."""

    def __init__(self, name: str, what_stopped: str = "this object was closed") -> None:
        self.what_stopped = what_stopped
        self.loop = asyncio.new_event_loop()
        self._stopping = False
        self._stop_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        # Stopped: let cancelled tasks finish their clean-up, then close everything.
        tasks = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()

    @property
    def on_loop_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Run ``coro`` on the loop; the future gives its result. Once the loop is stopping,
        raise :class:`~coview.errors.Conflict` (code ``closed``)."""
        if self._stopping or not self._thread.is_alive():
            coro.close()
            raise Conflict(self.what_stopped, code="closed")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop (cancelling its tasks) and wait for the thread to end; from the
        loop's own thread, stop once the running callback returns."""
        with self._stop_lock:
            first, self._stopping = not self._stopping, True
        # Once only: a second stop (the session ended on its own, then the application closed
        # it) must not stop the loop again while the thread is cleaning up on it.
        if first and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.loop.stop)
        if not self.on_loop_thread and self._thread.is_alive():
            self._thread.join(timeout)


def wait_on(changed: threading.Condition, holds: Callable[[], bool], timeout: float,
          what: str) -> None:
    """Wait on ``changed`` until ``holds()``; raise TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    with changed:
        while not holds():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"timed out waiting for {what}")
            changed.wait(remaining)
