"""One emulator per test session on free ports, on a background event loop.

The real clients talk to it exactly as they would to any server. Before each test the
store is emptied and the virtual clock returns to real time.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import TypeVar

import grpc
import pytest
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import (
    CloudTasksGrpcAsyncIOTransport,
    CloudTasksGrpcTransport,
)

from emulator.clock import VirtualClock
from emulator.server import EmulatorServer
from emulator.settings import Settings
from emulator.store import limits

from support import PARENT, queue_path

T = TypeVar("T")


class Harness:
    """The running server, and a way to act on its loop from the test's thread."""

    def __init__(self) -> None:
        self.clock = VirtualClock()
        self.server = EmulatorServer(Settings(port=0, http_port=0), clock=self.clock)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(0), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the server's loop, where the store lives, and return its result."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result()

    def advance(self, seconds: float) -> None:
        self.call(lambda: self.clock.advance(timedelta(seconds=seconds)))

    def reset(self) -> None:
        def reset() -> None:
            store = self.server.store
            store.reset()
            store.task_tombstone_ttl = limits.DEFAULT_TASK_TOMBSTONE_TTL
            store.queue_tombstone_ttl = limits.DEFAULT_QUEUE_TOMBSTONE_TTL
            self.clock.reset()

        self.call(reset)


@pytest.fixture(scope="session")
def harness() -> Iterator[Harness]:
    h = Harness()
    h.start()
    yield h
    h.stop()


@pytest.fixture(autouse=True)
def _clean_state(request: pytest.FixtureRequest) -> None:
    if "harness" in request.fixturenames or "client" in request.fixturenames:
        request.getfixturevalue("harness").reset()


@pytest.fixture(scope="session")
def channel(harness: Harness) -> Iterator[grpc.Channel]:
    ch = grpc.insecure_channel(harness.server.grpc_target)
    yield ch
    ch.close()


@pytest.fixture
def client(harness: Harness, channel: grpc.Channel) -> tasks_v2.CloudTasksClient:
    return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))


@pytest.fixture
async def async_client(harness: Harness) -> AsyncIterator[tasks_v2.CloudTasksAsyncClient]:
    harness.reset()
    ch = grpc.aio.insecure_channel(harness.server.grpc_target)
    yield tasks_v2.CloudTasksAsyncClient(transport=CloudTasksGrpcAsyncIOTransport(channel=ch))
    await ch.close()


@pytest.fixture
def queue(client: tasks_v2.CloudTasksClient) -> tasks_v2.Queue:
    """A queue with default settings."""
    return client.create_queue(parent=PARENT, queue={"name": queue_path("q")})
