"""An event loop on a background thread, and the ways to run a coroutine on it.

The one copy of this machinery in the project: `Emulator` runs the server this way for
synchronous callers, and runs it on the caller's own loop for `async with`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class LoopHost:
    """Where the server's loop is: its own thread (`start_thread`) or a caller's loop
    (`adopt`). `run` blocks a foreign thread on a coroutine; `arun` awaits one from any
    loop."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start_thread(self, name: str) -> None:
        loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name=name, daemon=True)
        self._thread.start()
        self.loop = loop

    def adopt(self) -> None:
        """Use the running loop (async with)."""
        self.loop = asyncio.get_running_loop()

    def release(self) -> None:
        """Stop the thread's loop (if it has one) and forget the loop."""
        if self._thread is not None and self.loop is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()
            self.loop.close()
        self.loop, self._thread = None, None

    @property
    def threaded(self) -> bool:
        return self._thread is not None

    def on_loop(self) -> bool:
        """Whether the caller runs on the server's loop."""
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    def run(self, coro: Coroutine[Any, Any, T], instead: str) -> T:
        """Run `coro` on the loop and wait for it (from any other thread)."""
        if self.loop is None:
            coro.close()
            raise RuntimeError("the emulator is not running")
        if self.on_loop():
            coro.close()
            raise RuntimeError(f"this would block the emulator's own event loop: use {instead}")
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result()

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await `coro` on the loop, from the loop itself or any other loop."""
        if self.loop is None:
            coro.close()
            raise RuntimeError("the emulator is not running")
        if self.on_loop():
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def call(self, fn: Callable[[], T], instead: str) -> T:
        """Call a synchronous `fn` on the loop (directly when already on it)."""
        if self.on_loop():
            return fn()

        async def call() -> T:
            return fn()

        return self.run(call(), instead)
