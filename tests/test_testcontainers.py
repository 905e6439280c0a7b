"""`CloudTasksContainer` (emulator/testcontainers.py) against the emulator's Docker image.

Needs a Docker daemon and the image `cloud-tasks-emulator:latest` (`docker build -t
cloud-tasks-emulator .`); without them the module is skipped with one line, or fails
where CLOUD_TASKS_EMULATOR_REQUIRE_DOCKER is set (.ci/testcontainers.sh sets it after
building the image). The container's tasks reach a handler on the host as the docs tell
users to write it: http://host.docker.internal:PORT/ with
`extra_hosts: host.docker.internal:host-gateway`, the handler listening on the Docker
bridge's address (what host-gateway resolves to).
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
import urllib.request
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.errors import DockerException, ImageNotFound
from google.cloud import tasks_v2
from testcontainers.core.config import testcontainers_config

from emulator.testcontainers import DEFAULT_IMAGE, CloudTasksContainer

REQUIRE_DOCKER = "CLOUD_TASKS_EMULATOR_REQUIRE_DOCKER"
PARENT = "projects/local-project/locations/us-central1"


def _docker_gateway() -> str:
    """The bridge gateway address when a daemon answers and the image is there; else
    skip (or fail, with REQUIRE_DOCKER set) with one line saying what is missing."""
    reason = None
    client = None
    # docker-py leaves the socket of a refused connection open: it is collected here, where
    # its ResourceWarning is expected, instead of failing a later test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            client = docker.from_env()
        except DockerException:
            reason = "no Docker daemon answers"
        gc.collect()
    if client is not None:
        try:
            client.images.get(DEFAULT_IMAGE)
            bridge = client.networks.get("bridge").attrs["IPAM"]["Config"][0]
            return str(bridge["Gateway"])
        except ImageNotFound:
            reason = f"the image {DEFAULT_IMAGE} is missing (docker build -t {DEFAULT_IMAGE} .)"
        finally:
            client.close()
    reason = f"{reason}: the Testcontainers module's tests need it"
    if os.environ.get(REQUIRE_DOCKER):
        pytest.fail(f"{reason} ({REQUIRE_DOCKER} is set)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


GATEWAY = _docker_gateway()


@pytest.fixture(scope="module", autouse=True)
def _no_reaper() -> Iterator[None]:
    # Every container here is stopped by its `with` block; Ryuk, Testcontainers' reaper of
    # leftover containers, is an image of its own that these machines cannot download.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(testcontainers_config, "ryuk_disabled", True)
        yield


class HostHandler:
    """An HTTP handler on the host, on the Docker bridge's address; records what arrives."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.arrived = threading.Condition()
        handler = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with handler.arrived:
                    handler.requests.append(
                        {"path": self.path, "headers": dict(self.headers.items()), "body": body}
                    )
                    handler.arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((GATEWAY, 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{len(self.requests)} requests arrived, expected {count}")
            return list(self.requests)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def host_handler() -> Iterator[HostHandler]:
    handler = HostHandler()
    yield handler
    handler.close()


@pytest.fixture(scope="module")
def container() -> Iterator[CloudTasksContainer]:
    """One container for the module's client tests (each uses queues of its own)."""
    with CloudTasksContainer().with_kwargs(
        extra_hosts={"host.docker.internal": "host-gateway"}
    ) as started:
        yield started


def test_the_container_is_ready_when_start_returns(container: CloudTasksContainer) -> None:
    host, _, port = container.get_emulator_host().rpartition(":")
    assert host == container.get_container_host_ip()
    assert int(port) == container.get_exposed_port(8124)
    with urllib.request.urlopen(f"{container.get_http_url()}/healthz", timeout=10) as answer:
        assert answer.status == 200
        assert json.load(answer) == {"status": "SERVING"}


def test_get_client_creates_a_task_that_is_delivered_to_the_host(
    container: CloudTasksContainer, host_handler: HostHandler
) -> None:
    with container.get_client() as client:
        queue = client.create_queue(parent=PARENT, queue={"name": f"{PARENT}/queues/to-host"})
        task = client.create_task(
            parent=queue.name,
            task={
                "http_request": {
                    "url": f"http://host.docker.internal:{host_handler.port}/work",
                    "body": b"hello from the container",
                }
            },
        )
    [delivered] = host_handler.wait_for(1)
    assert delivered["path"] == "/work"
    assert delivered["body"] == b"hello from the container"
    assert delivered["headers"]["X-CloudTasks-QueueName"] == "to-host"
    assert delivered["headers"]["X-CloudTasks-TaskName"] == task.name.rsplit("/", 1)[1]


async def test_get_async_client_works_without_credentials(
    container: CloudTasksContainer,
) -> None:
    client = container.get_async_client()
    try:
        created = await client.create_queue(
            parent=PARENT, queue={"name": f"{PARENT}/queues/from-async"}
        )
        fetched = await client.get_queue(name=created.name)
        assert fetched.state == tasks_v2.Queue.State.RUNNING
    finally:
        await client.transport.close()


def test_get_rest_client_speaks_rest_on_the_same_port(container: CloudTasksContainer) -> None:
    with container.get_rest_client() as client:
        created = client.create_queue(parent=PARENT, queue={"name": f"{PARENT}/queues/over-rest"})
        names = [queue.name for queue in client.list_queues(parent=PARENT)]
    assert created.name in names


def test_an_unmodified_client_reaches_it_through_the_emulator_host(
    container: CloudTasksContainer,
) -> None:
    # A script as a user writes it for production, told only CLOUD_TASKS_EMULATOR_HOST.
    script = (
        "from google.cloud import tasks_v2\n"
        "client = tasks_v2.CloudTasksClient()\n"
        f"client.create_queue(parent={PARENT!r}, queue={{'name': {PARENT!r} + '/queues/plain'}})\n"
    )
    env = {**os.environ, "CLOUD_TASKS_EMULATOR_HOST": container.get_emulator_host()}
    run = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    with container.get_client() as client:
        assert client.get_queue(name=f"{PARENT}/queues/plain").name.endswith("/plain")


def test_queues_from_the_start_up_file_exist_once_it_has_started(tmp_path: Path) -> None:
    queues = tmp_path / "queues.yaml"
    queues.write_text(
        "queues:\n  - name: emails\n    retry_config: {max_attempts: 7}\n  - name: reports\n",
        encoding="utf-8",
    )
    queues.chmod(0o600)  # copied into the container, so the container's user can read it
    with (
        CloudTasksContainer().with_queues_file(queues) as started,
        started.get_client() as client,
    ):
        emails = client.get_queue(name=f"{PARENT}/queues/emails")
        names = sorted(queue.name for queue in client.list_queues(parent=PARENT))
    assert emails.retry_config.max_attempts == 7
    assert names == [f"{PARENT}/queues/emails", f"{PARENT}/queues/reports"]


def test_the_queues_file_can_be_given_to_the_constructor(tmp_path: Path) -> None:
    queues = tmp_path / "queues.yaml"
    queues.write_text("queues:\n  - name: only\n", encoding="utf-8")
    with CloudTasksContainer(queues_file=queues) as started, started.get_client() as client:
        names = [queue.name for queue in client.list_queues(parent=PARENT)]
    assert names == [f"{PARENT}/queues/only"]


def test_a_missing_queues_file_is_refused_before_any_container_starts(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nowhere\.yaml"):
        CloudTasksContainer().with_queues_file(tmp_path / "nowhere.yaml")


def test_another_port_inside_the_container_is_served_and_exposed() -> None:
    with CloudTasksContainer(port=9499) as started, started.get_client() as client:
        assert started.get_emulator_host().endswith(f":{started.get_exposed_port(9499)}")
        queue = client.create_queue(parent=PARENT, queue={"name": f"{PARENT}/queues/moved"})
    assert queue.name.endswith("/moved")
