"""One emulator per test session on free ports, on a background event loop.

The real clients talk to it exactly as they would to any server. Before each test the
store is emptied and the virtual clock returns to real time.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
from aiohttp import web
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import (
    CloudTasksGrpcAsyncIOTransport,
    CloudTasksGrpcTransport,
)

from emulator.clock import VirtualClock
from emulator.server import EmulatorServer
from emulator.settings import Settings
from emulator.store import limits
from emulator.store.records import AttemptLog

from support import PARENT, Receiver, queue_path

pytest_plugins = ["pytester"]

T = TypeVar("T")


class Harness:
    """The running server, and a way to act on its loop from the test's thread."""

    def __init__(self) -> None:
        self.clock = VirtualClock()
        self.server = EmulatorServer(Settings(port=0, http_port=0), clock=self.clock)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

        self.settled: list[AttemptLog] = []  # attempts the dispatcher has finished with
        self._settled_changed = threading.Condition()

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result()
        self.server.dispatcher.attempt_listeners.append(self._on_settled)

    def _on_settled(self, entry: AttemptLog) -> None:
        if not any(e is entry for e in self.server.store.history):
            return  # an attempt begun before the last reset
        with self._settled_changed:
            self.settled.append(entry)
            self._settled_changed.notify_all()

    def wait_settled(self, count: int, timeout: float = 15) -> list[AttemptLog]:
        """Block until `count` attempts have been settled since the last reset."""
        with self._settled_changed:
            if not self._settled_changed.wait_for(lambda: len(self.settled) >= count, timeout):
                raise AssertionError(f"{len(self.settled)} attempts settled, expected {count}")
            return list(self.settled)

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
            with self._settled_changed:
                self.settled.clear()

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


NODE_DIR = Path(__file__).parent / "node"


@pytest.fixture(scope="session")
def node_packages() -> Path:
    """tests/node with its packages installed (`npm ci`, once: the lockfile pins them)."""
    installed = [NODE_DIR / "node_modules" / p for p in ("@google-cloud/tasks", "firebase-admin")]
    if not all(path.exists() for path in installed):
        subprocess.run(
            [shutil.which("npm") or "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR,
            check=True,
            timeout=600,
        )
    return NODE_DIR


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A threaded HTTP target that records what it receives and answers 200."""
    target = Receiver()
    yield target
    target.close()


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


class Target:
    """An aiohttp handler on 127.0.0.1 that records every request it receives.

    `responses` scripts the answers in order (an int status, or a (status, headers)
    pair); when it runs out, every request gets 200. `hold` makes handlers wait until
    released, to keep attempts in flight.
    """

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.requests: list[dict[str, Any]] = []
        self.responses: list[Any] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.hold: asyncio.Event | None = None
        self._arrived = threading.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        record = {
            "method": request.method,
            "path": request.path_qs,
            "headers": list(request.raw_headers),
            "header": {k.lower(): v for k, v in request.headers.items()},
            "body": await request.read(),
            "time": self.harness.clock.now(),
        }
        with self._arrived:
            self.requests.append(record)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._arrived.notify_all()
        try:
            if request.path.startswith("/redirect/"):
                hops = int(request.path.rsplit("/", 1)[1])
                location = f"/redirect/{hops - 1}" if hops > 1 else "/done"
                return web.Response(status=302, headers={"Location": location})
            if self.hold is not None:
                await self.hold.wait()
            answer = self.responses.pop(0) if self.responses else 200
            status, headers = answer if isinstance(answer, tuple) else (answer, {})
            return web.Response(status=status, headers=headers, text="handled")
        finally:
            with self._arrived:
                self.in_flight -= 1

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        assert self._runner is not None
        await self._runner.cleanup()

    def wait_requests(self, count: int, timeout: float = 15) -> list[dict[str, Any]]:
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{len(self.requests)} requests arrived, expected {count}")
            return list(self.requests)

    def release(self) -> None:
        """Let held handlers answer (and later ones not wait)."""

        def release() -> None:
            assert self.hold is not None
            self.hold.set()

        self.harness.loop.call_soon_threadsafe(release)


@pytest.fixture
def target(harness: Harness) -> Iterator[Target]:
    t = Target(harness)
    asyncio.run_coroutine_threadsafe(t.start(), harness.loop).result()
    yield t
    asyncio.run_coroutine_threadsafe(t.stop(), harness.loop).result()
