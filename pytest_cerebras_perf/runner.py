"""A session-long event loop in its own thread, so SDK clients and warm connections outlive each test.

aiohttp sessions belong to the loop that made them; ``asyncio.run`` per test would rebuild clients
and reopen connections inside the first timed request of every test.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
# How long an interrupted call waits for the cancelled coroutine's cleanup.
CANCEL_WAIT_S = 10.0


class LoopThread:
    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cerebras-perf-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait; Ctrl-C (or SIGTERM) cancels it there, waits until its
        cleanup has run (a measured run parses what it received), then re-raises here."""
        finished = threading.Event()

        async def tracked() -> T:
            try:
                return await coro
            finally:
                finished.set()

        future: Future[T] = asyncio.run_coroutine_threadsafe(tracked(), self._loop)
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            finished.wait(CANCEL_WAIT_S)
            raise

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()
