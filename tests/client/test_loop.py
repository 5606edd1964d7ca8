"""The SDK objects' background loop: stopping it is safe from either thread, and twice."""

from __future__ import annotations

import asyncio
import threading

from coview.client.loop import BackgroundLoop


def test_stopping_twice_while_the_loop_cleans_up_closes_it_once() -> None:
    """A session that ends stops its loop from the loop's own thread; the application may
    close the object at the same moment. The second stop must not interrupt the clean-up (a
    full run once caught it stopping the loop under ``shutdown_asyncgens``, leaving the loop
    and its socket open)."""
    background = BackgroundLoop("test-loop")
    cleaning = threading.Event()

    async def slow_to_cancel() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cleaning.set()
            await asyncio.sleep(0.2)  # clean-up that takes a while, on the loop
            raise

    async def stop_from_inside() -> None:
        background.stop()

    background.submit(slow_to_cancel())
    background.submit(stop_from_inside())
    assert cleaning.wait(5)
    background.stop()  # the application closes it too, during the clean-up
    assert background.loop.is_closed()
