"""`CloudTasksContainer`: the emulator's Docker image as a Testcontainers module.

    from emulator.testcontainers import CloudTasksContainer

    with CloudTasksContainer().with_queues_file("queues.yaml") as emulator:
        client = emulator.get_client()           # no credentials, plain-text gRPC
        client.create_task(parent=..., task=...)
        os.environ["CLOUD_TASKS_EMULATOR_HOST"] = emulator.get_emulator_host()

Built the way testcontainers-python's Google emulator modules are (a `DockerContainer`
with a default image, the port it exposes, a readiness wait and client getters). The
image is the one this repository's Dockerfile builds (`docker build -t
cloud-tasks-emulator .`, docs/docker.md); `image=` names another. The container is
ready when `GET /healthz` on the one HTTP port answers 200, which is after the start-up
file's queues exist. Installed with the `testcontainers` extra (`pip install
'/path/to/checkout[testcontainers]'`); nothing else in the package imports this module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Self

import grpc
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import (
    CloudTasksGrpcAsyncIOTransport,
    CloudTasksGrpcTransport,
)

from emulator.core.settings import bracketed

try:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import HttpWaitStrategy
except ImportError as missing:  # pragma: no cover - depends on what is installed
    raise ImportError(
        "CloudTasksContainer needs testcontainers 4.13 or later: install this package with "
        "its extra, pip install '/path/to/checkout[testcontainers]'"
    ) from missing

DEFAULT_IMAGE = "cloud-tasks-emulator:latest"
HTTP_PORT = 8124  # the one port: gRPC, REST, the Firebase route, /_emulator/ and /healthz
GRPC_PORT = 8123  # gRPC only (optional)
# Where the start-up file is copied in the container, and the variable that points at it
# (the path docker-compose.yml mounts it at).
CONFIG_PATH = "/config/queues.yaml"
_CONFIG_ENV = "CLOUD_TASKS_EMULATOR_CONFIG"
_HTTP_PORT_ENV = "CLOUD_TASKS_EMULATOR_HTTP_PORT"
_CHANNEL_OPTIONS = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]


class CloudTasksContainer(DockerContainer):
    """The Cloud Tasks emulator in a container.

    - `image`: the emulator's image (default `cloud-tasks-emulator:latest`).
    - `port`: the HTTP port inside the container (default 8124), exposed on a free port
      of the host; `get_emulator_host()` says which.
    - `queues_file`: a start-up file of queues (ours or App Engine's `queue.yaml`,
      docs/configuration.md), copied into the container; or `with_queues_file(path)`.
    - `**kwargs` go to `DockerContainer` (e.g. `extra_hosts`, with `with_kwargs`).
    """

    def __init__(
        self,
        image: str = DEFAULT_IMAGE,
        port: int = HTTP_PORT,
        queues_file: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(image=image, **kwargs)
        self.port = port
        self.queues_file: Path | None = None
        if port != HTTP_PORT:
            self.with_env(_HTTP_PORT_ENV, str(port))
        self.with_exposed_ports(port)
        self.waiting_for(HttpWaitStrategy(port, "/healthz").for_status_code(200))
        if queues_file is not None:
            self.with_queues_file(queues_file)

    def with_queues_file(self, path: str | os.PathLike[str]) -> Self:
        """Create the queues of this start-up file when the emulator starts (and again on
        every reset). The file is copied into the container, so it needs no particular
        permissions and works with a remote Docker host."""
        queues_file = Path(path)
        if not queues_file.is_file():
            raise FileNotFoundError(f"queues file {queues_file} does not exist")
        self.queues_file = queues_file
        self.with_env(_CONFIG_ENV, CONFIG_PATH)
        return self

    def _configure(self) -> None:
        # Called by start() once the options are final: one copy, whatever was set last.
        if self.queues_file is not None:
            self.with_copy_into_container(self.queues_file, CONFIG_PATH)

    def get_emulator_host(self) -> str:
        """`host:port` of the HTTP port as the host reaches it: the value of
        `CLOUD_TASKS_EMULATOR_HOST` for clients outside the container."""
        host = bracketed(self.get_container_host_ip())
        return f"{host}:{self.get_exposed_port(self.port)}"

    def get_http_url(self) -> str:
        """`http://host:port`: the dashboard, `/_emulator/` controls and `/healthz`."""
        return f"http://{self.get_emulator_host()}"

    def get_client(self) -> tasks_v2.CloudTasksClient:
        """A sync `CloudTasksClient` over plain-text gRPC to the container, no credentials.
        Close it (or use it in a `with` block) to close its channel."""
        channel = grpc.insecure_channel(self.get_emulator_host(), options=_CHANNEL_OPTIONS)
        return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))

    def get_async_client(self) -> tasks_v2.CloudTasksAsyncClient:
        """A `CloudTasksAsyncClient` over plain-text gRPC, no credentials; make it on the
        event loop that uses it."""
        channel = grpc.aio.insecure_channel(self.get_emulator_host(), options=_CHANNEL_OPTIONS)
        return tasks_v2.CloudTasksAsyncClient(
            transport=CloudTasksGrpcAsyncIOTransport(channel=channel)
        )

    def get_rest_client(self) -> tasks_v2.CloudTasksClient:
        """A sync `CloudTasksClient` over REST (JSON on the same port), no credentials."""
        return tasks_v2.CloudTasksClient(
            transport="rest",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options=ClientOptions(api_endpoint=self.get_http_url()),
        )
