"""pytest fixtures for Cloud Tasks, registered through the `pytest11` entry point.

Installing the package is enough: `cloud_tasks_emulator` (one server per session, reset
before each test), `cloud_tasks_client` and the `cloud_tasks_queue` factory are there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.cloud import tasks_v2

from emulator.embedded import Emulator

_OPTIONS = {
    "clock": ("virtual", "virtual (real time that advance() can move) or real"),
    "port": ("0", "gRPC port of the test emulator (0: a free one)"),
    "http_port": ("0", "HTTP port of the test emulator (0: a free one)"),
    "project": ("test-project", "project of the queues cloud_tasks_queue creates"),
    "location": ("us-central1", "location of the queues cloud_tasks_queue creates"),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cloud-tasks-emulator")
    for name, (default, help_text) in _OPTIONS.items():
        flag = "--cloud-tasks-" + name.replace("_", "-")
        group.addoption(flag, dest=f"cloud_tasks_{name}", default=None, help=help_text)
        parser.addini(f"cloud_tasks_{name}", help_text, default=default)


def _option(config: pytest.Config, name: str) -> str:
    value = config.getoption(f"cloud_tasks_{name}")
    return str(value if value is not None else config.getini(f"cloud_tasks_{name}"))


@pytest.fixture(scope="session")
def _cloud_tasks_emulator_session(pytestconfig: pytest.Config) -> Iterator[Emulator]:
    emulator = Emulator(
        clock=_option(pytestconfig, "clock"),
        port=int(_option(pytestconfig, "port")),
        http_port=int(_option(pytestconfig, "http_port")),
        project=_option(pytestconfig, "project"),
        location=_option(pytestconfig, "location"),
    )
    with emulator:
        yield emulator


@pytest.fixture
def cloud_tasks_emulator(_cloud_tasks_emulator_session: Emulator) -> Emulator:
    """The session's emulator, reset for this test: no queues, tasks or attempts."""
    _cloud_tasks_emulator_session.reset()
    return _cloud_tasks_emulator_session


@pytest.fixture
def cloud_tasks_client(cloud_tasks_emulator: Emulator) -> tasks_v2.CloudTasksClient:
    """A `CloudTasksClient` connected to the emulator."""
    return cloud_tasks_emulator.client()


@pytest.fixture
def cloud_tasks_queue(
    cloud_tasks_emulator: Emulator, cloud_tasks_client: tasks_v2.CloudTasksClient
) -> Callable[..., str]:
    """A factory: `cloud_tasks_queue("emails", rate_limits={...}, retry_config={...})`
    creates a queue (any `tasks_v2.Queue` field may be given) and returns its full name.
    Without an id it picks `queue-1`, `queue-2`, ..."""
    created = 0

    def create(
        queue_id: str | None = None,
        *,
        rate_limits: dict[str, Any] | None = None,
        retry_config: dict[str, Any] | None = None,
        **fields: Any,
    ) -> str:
        nonlocal created
        created += 1
        name = cloud_tasks_emulator.queue_name(queue_id or f"queue-{created}")
        queue: dict[str, Any] = {"name": name, **fields}
        if rate_limits is not None:
            queue["rate_limits"] = rate_limits
        if retry_config is not None:
            queue["retry_config"] = retry_config
        created_queue = cloud_tasks_client.create_queue(
            request={"parent": cloud_tasks_emulator.parent, "queue": queue}
        )
        return str(created_queue.name)

    return create
