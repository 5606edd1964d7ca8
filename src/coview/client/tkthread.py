"""A Tk interpreter on a thread of its own, for the SDK's windows.

Tk is not thread-safe: every Tk call of an interpreter must run on the thread that made it,
and its objects must be freed there too (Tcl aborts the process when a garbage collection on
another thread frees them). Other threads hand calls over with ``call``/``call_wait``.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import tkinter as tk

T = TypeVar("T")
log = logging.getLogger("coview.ui")
POLL_MS = 30


class TkThread:
    """Runs a hidden Tk root and what other threads ask of it."""

    def __init__(self, name: str) -> None:
        self._calls: queue.Queue[Callable[[], None]] = queue.Queue()
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self.closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._failure is not None:
            raise RuntimeError(f"Tk cannot start: {self._failure}")

    # -- for subclasses (they run on the Tk thread) -----------------------------------------

    def setup(self, root: tk.Tk) -> None:
        """Build the windows, once, before anything else runs."""

    def teardown(self) -> None:
        """Drop every reference to Tk objects (the interpreter is going)."""

    # -- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            import tkinter as tk

            root = tk.Tk()
            root.withdraw()
            self.root = root
            self.setup(root)
        except Exception as exc:
            self._failure = exc
            self.closed = True
            self._ready.set()
            return
        root.after(POLL_MS, self._drain)
        self._ready.set()
        try:
            root.mainloop()
        finally:
            self.closed = True
            self.teardown()
            del self.root, root
            gc.collect()

    def _drain(self) -> None:
        while True:
            try:
                call = self._calls.get_nowait()
            except queue.Empty:
                break
            try:
                call()
            except Exception:
                log.exception("a window call failed")
        if not self.closed:
            self.root.after(POLL_MS, self._drain)

    # -- for other threads ------------------------------------------------------------------

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the Tk thread soon (dropped once the thread has closed)."""
        if not self.closed:
            self._calls.put(fn)

    def call_wait(self, fn: Callable[[], T], timeout: float = 5.0) -> T:
        """Run ``fn`` on the Tk thread and return its result."""
        result: list[Any] = []
        done = threading.Event()

        def run() -> None:
            try:
                result.append(fn())
            finally:
                done.set()

        self.call(run)
        if not done.wait(timeout) or not result:
            raise TimeoutError("the window thread did not answer")
        value: T = result[0]
        return value

    def close(self) -> None:
        """Destroy the windows and end the thread."""
        def destroy() -> None:
            self.root.destroy()

        self.call(destroy)
        self._thread.join(5)
