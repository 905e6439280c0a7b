"""Fixtures on the package's public API only.

The session's emulator is the pytest plugin's `cloud_tasks_emulator` (virtual clock,
reset before each test). The API suites take `client`, which runs each test twice: over
gRPC and over REST (tests/delivery/ overrides it with the gRPC client alone). Tests that
need other settings start an `Emulator` of their own (`start_emulator`, `client_of`).
tests/unit/ tests the pure units directly, with no emulator.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from google.cloud import tasks_v2

from emulator import Emulator

from support import PARENT, Client, Receiver, connect, queue_path, require_node

pytest_plugins = ["pytester"]


@pytest.fixture
def emu(cloud_tasks_emulator: Emulator) -> Emulator:
    """The session's emulator, reset for this test."""
    return cloud_tasks_emulator


@pytest.fixture(params=["grpc", "rest"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(emu: Emulator, transport: str) -> Iterator[Client]:
    """A sync client of the session's emulator, once over gRPC and once over REST."""
    client = connect(emu, transport)
    yield client
    if transport == "rest":  # a gRPC client's channel is the emulator's own
        client.transport.close()


@pytest.fixture
def grpc_client(emu: Emulator) -> Client:
    """The gRPC client, for tests whose subject is not the RPC layer (delivery)."""
    return emu.client()


@pytest.fixture
def queue(client: Client) -> tasks_v2.Queue:
    """A queue with default settings."""
    return client.create_queue(parent=PARENT, queue={"name": queue_path("q")})


@pytest.fixture
def start_emulator() -> Iterator[Callable[..., Emulator]]:
    """Start a dedicated `Emulator(**settings)`, stopped after the test."""
    with ExitStack() as stack:

        def start(**settings: Any) -> Emulator:
            return stack.enter_context(Emulator(**settings))

        yield start


@pytest.fixture
def client_of(transport: str) -> Iterator[Callable[[Emulator], Client]]:
    """Clients of dedicated emulators, over this test's transport."""
    made: list[Client] = []

    def make(emulator: Emulator) -> Client:
        made.append(connect(emulator, transport))
        return made[-1]

    yield make
    for client in made:
        if client.transport.kind == "rest":  # a gRPC client's channel is the emulator's
            client.transport.close()


@pytest.fixture
async def async_client(emu: Emulator) -> AsyncIterator[tasks_v2.CloudTasksAsyncClient]:
    client = emu.async_client()
    yield client
    await client.transport.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A threaded HTTP target that records what it receives and answers 200."""
    target = Receiver()
    yield target
    target.close()


NODE_DIR = Path(__file__).parent / "node"


@pytest.fixture(scope="session")
def node_packages() -> Path:
    """tests/node with its packages installed (`npm ci`, once: the lockfile pins them)."""
    require_node()
    installed = [NODE_DIR / "node_modules" / p for p in ("@google-cloud/tasks", "firebase-admin")]
    if not all(path.exists() for path in installed):
        subprocess.run(
            [shutil.which("npm") or "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR,
            check=True,
            timeout=600,
        )
    return NODE_DIR
