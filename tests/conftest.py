"""Fixtures on the package's public API only.

The session's emulator is the pytest plugin's `cloud_tasks_emulator` (virtual clock,
reset before each test). The API suites take `client`, which runs each test twice: over
gRPC and over REST (tests/delivery/ overrides it with the gRPC client alone). The queue
and task suites also run each test on both backends (`backend_emu`: in memory, and with
a data directory). Tests that need other settings start an `Emulator` of their own
(`start_emulator`, `client_of`). tests/unit/ tests the pure units directly, with no
emulator.

`--delivery-process` runs the emulators these fixtures start with a delivery process
(`Emulator(delivery_process=True)`, the command line's default); tests/delivery/ runs
every test both ways regardless.

The test emulators send App Engine tasks to APP_ENGINE_NOWHERE, a port this session
holds bound and never listens on: such a task is refused at once, whatever else runs
on the machine (the plugin's `cloud_tasks_app_engine_host`; the product's default,
127.0.0.1:8080, is unchanged).
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

from support import (
    APP_ENGINE_NOWHERE,
    NOWHERE,
    PARENT,
    Client,
    Receiver,
    connect,
    queue_path,
    require_node,
)

pytest_plugins = ["pytester"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--delivery-process",
        action="store_true",
        default=False,
        help="the test emulators deliver through a delivery process, as the command line does",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("cloud_tasks_app_engine_host") is None:  # not given on the command line
        config.option.cloud_tasks_app_engine_host = APP_ENGINE_NOWHERE


def pytest_unconfigure(config: pytest.Config) -> None:
    NOWHERE.close()


def _delivery_process(config: pytest.Config) -> bool:
    return bool(config.getoption("delivery_process"))


@pytest.fixture
def emu(request: pytest.FixtureRequest) -> Emulator:
    """The session's emulator, reset for this test (with --delivery-process, the session's
    emulator with a delivery process)."""
    if not _delivery_process(request.config):
        emulator: Emulator = request.getfixturevalue("cloud_tasks_emulator")  # (reset)
        return emulator
    emulator = request.getfixturevalue("delivery_process_emulator")
    emulator.reset()
    return emulator


@pytest.fixture(scope="session")
def delivery_process_emulator() -> Iterator[Emulator]:
    """A session emulator as the plugin's, delivering through a delivery process."""
    with Emulator(delivery_process=True, app_engine_host=APP_ENGINE_NOWHERE) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def data_dir_emulator(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[Emulator]:
    """A session emulator as the plugin's, with a data directory (--data-dir)."""
    data_dir = tmp_path_factory.mktemp("data-dir")
    with Emulator(
        data_dir=str(data_dir),
        app_engine_host=APP_ENGINE_NOWHERE,
        delivery_process=_delivery_process(pytestconfig),
    ) as emulator:
        yield emulator


@pytest.fixture(params=["in-memory", "data-dir"])
def backend_emu(request: pytest.FixtureRequest) -> Emulator:
    """The session's emulator (in memory), then the one with a data directory, reset for
    this test: a suite whose `emu` is this runs on both backends."""
    if request.param == "in-memory":
        emulator: Emulator = request.getfixturevalue("cloud_tasks_emulator")
        return emulator
    emulator = request.getfixturevalue("data_dir_emulator")
    emulator.reset()
    return emulator


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
def start_emulator(pytestconfig: pytest.Config) -> Iterator[Callable[..., Emulator]]:
    """Start a dedicated `Emulator(**settings)`, stopped after the test."""
    with ExitStack() as stack:

        def start(**settings: Any) -> Emulator:
            settings.setdefault("app_engine_host", APP_ENGINE_NOWHERE)
            settings.setdefault("delivery_process", _delivery_process(pytestconfig))
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
