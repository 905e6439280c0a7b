"""pytest fixtures for Cloud Tasks, registered through the `pytest11` entry point.

Installing the package is enough: `cloud_tasks_emulator` (one server per session, reset
before each test), `cloud_tasks_client` and the `cloud_tasks_queue` factory are there.

Code under test that builds its own `CloudTasksClient()` (or uses the Firebase Admin
SDK) reaches the emulator through `CLOUD_TASKS_EMULATOR_HOST`: the
`cloud_tasks_autoconnect` fixture sets it for one test; the `cloud_tasks_autoconnect`
ini key (or `--cloud-tasks-autoconnect`) sets it for the whole session, before test
modules are imported, so module-level clients connect too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from emulator import autoconnect
from emulator.core import limits
from emulator.core.settings import DEFAULT_PROJECT, TEST_CLOCK, Settings

if TYPE_CHECKING:
    from google.cloud import tasks_v2

    from emulator.embedded import Emulator

# The emulator (gRPC, the client library, aiohttp: ~0.4 s to import) is loaded when a
# test first asks for it, not when pytest loads this plugin in every project that has
# the package installed.

_OPTIONS = {
    "clock": (TEST_CLOCK, "virtual (real time that advance() can move) or real"),
    "port": ("0", "gRPC port of the test emulator; 0 picks a free one"),
    "http_port": ("0", "HTTP port of the test emulator; 0 picks a free one"),
    "project": (DEFAULT_PROJECT, "project of the queues cloud_tasks_queue creates"),
    "location": (limits.DEFAULT_LOCATION, "location of the queues cloud_tasks_queue creates"),
    "app_engine_host": (Settings.app_engine_host, "where the test emulator sends App Engine tasks"),
}


_AUTOCONNECT_HELP = (
    "point every CloudTasksClient() and the Firebase Admin SDK at the test emulator for the "
    "whole session (sets CLOUD_TASKS_EMULATOR_HOST before test modules are imported)"
)
_AUTO_CREATE_HELP = (
    "the test emulator creates a queue (every default) the first time a task is created "
    "in it, instead of NOT_FOUND as in production (the emulator's --auto-create-queues)"
)
_ROUTE_HELP = (
    "send the test emulator's tasks for a production URL to a local handler, "
    "PATTERN=LOCAL_BASE[;...] as the emulator's --route (repeatable; the ini key: one a line)"
)
_SESSION_EMULATOR = pytest.StashKey["Emulator"]()
_SAVED_HOST = pytest.StashKey[str | None]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cloud-tasks-emulator")
    for name, (default, text) in _OPTIONS.items():
        flag = "--cloud-tasks-" + name.replace("_", "-")
        help_text = f"{text} (default: {default})"
        group.addoption(flag, dest=f"cloud_tasks_{name}", default=None, help=help_text)
        parser.addini(f"cloud_tasks_{name}", help_text, default=default)
    group.addoption(
        "--cloud-tasks-autoconnect",
        dest="cloud_tasks_autoconnect",
        action="store_true",
        default=None,
        help=_AUTOCONNECT_HELP,
    )
    parser.addini("cloud_tasks_autoconnect", _AUTOCONNECT_HELP, type="bool", default=False)
    group.addoption(
        "--cloud-tasks-auto-create-queues",
        dest="cloud_tasks_auto_create_queues",
        action="store_true",
        default=None,
        help=_AUTO_CREATE_HELP,
    )
    parser.addini("cloud_tasks_auto_create_queues", _AUTO_CREATE_HELP, type="bool", default=False)
    group.addoption(
        "--cloud-tasks-route", dest="cloud_tasks_routes", action="append", help=_ROUTE_HELP
    )
    parser.addini("cloud_tasks_routes", _ROUTE_HELP, type="linelist", default=[])


def _option(config: pytest.Config, name: str) -> str:
    value = config.getoption(f"cloud_tasks_{name}")
    return str(value if value is not None else config.getini(f"cloud_tasks_{name}"))


def _new_emulator(config: pytest.Config) -> Emulator:
    from emulator.embedded import Emulator

    return Emulator(
        clock=_option(config, "clock"),
        port=int(_option(config, "port")),
        http_port=int(_option(config, "http_port")),
        project=_option(config, "project"),
        location=_option(config, "location"),
        app_engine_host=_option(config, "app_engine_host"),
        auto_create_queues=bool(
            config.getoption("cloud_tasks_auto_create_queues")
            or config.getini("cloud_tasks_auto_create_queues")
        ),
        routes=config.getoption("cloud_tasks_routes") or config.getini("cloud_tasks_routes"),
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    wanted = config.getoption("cloud_tasks_autoconnect") or config.getini("cloud_tasks_autoconnect")
    if not wanted:
        return
    emulator = _new_emulator(config).start()
    config.stash[_SESSION_EMULATOR] = emulator
    config.stash[_SAVED_HOST] = os.environ.get(autoconnect.ENV)
    os.environ[autoconnect.ENV] = emulator.emulator_host
    autoconnect.install()


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    emulator = config.stash.get(_SESSION_EMULATOR, None)
    if emulator is None:
        return
    saved = config.stash[_SAVED_HOST]
    if saved is None:
        os.environ.pop(autoconnect.ENV, None)
    else:
        os.environ[autoconnect.ENV] = saved
    emulator.stop()


@pytest.fixture(scope="session")
def _cloud_tasks_emulator_session(pytestconfig: pytest.Config) -> Iterator[Emulator]:
    started = pytestconfig.stash.get(_SESSION_EMULATOR, None)
    if started is not None:  # autoconnect started it before collection
        yield started
        return
    with _new_emulator(pytestconfig) as emulator:
        yield emulator


@pytest.fixture
def cloud_tasks_emulator(_cloud_tasks_emulator_session: Emulator) -> Emulator:
    """The session's emulator, reset for this test: no queues, tasks or attempts."""
    _cloud_tasks_emulator_session.reset()
    return _cloud_tasks_emulator_session


@pytest.fixture
def cloud_tasks_autoconnect(cloud_tasks_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """For this test, `CLOUD_TASKS_EMULATOR_HOST` points at the emulator: a
    `CloudTasksClient()` built during the test, with no transport or endpoint of its own,
    and the Firebase Admin SDK reach it. Returns the variable's value."""
    monkeypatch.setenv(autoconnect.ENV, cloud_tasks_emulator.emulator_host)
    autoconnect.install()
    return cloud_tasks_emulator.emulator_host


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
