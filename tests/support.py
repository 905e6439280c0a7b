"""Names, request builders, the error helper and the HTTP receiver shared by the tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.api_core import exceptions
from google.cloud import tasks_v2, tasks_v2beta3
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport
from google.cloud.tasks_v2beta3.services.cloud_tasks.transports import (
    CloudTasksGrpcTransport as BetaGrpcTransport,
)
from google.protobuf import duration_pb2
from playwright.sync_api import sync_playwright
from requests.structures import CaseInsensitiveDict

from emulator import Emulator

PROJECT = "test-project"
LOCATION = "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
TARGET_URL = "http://127.0.0.1:9/handler"  # discard port: nothing is dispatched here yet

# The test emulators' App Engine target (see tests/conftest.py): a port bound for the
# whole session and never listening, so nothing on the machine can answer there.
NOWHERE = socket.socket()
NOWHERE.bind(("127.0.0.1", 0))
APP_ENGINE_NOWHERE = f"http://127.0.0.1:{NOWHERE.getsockname()[1]}"

Client = tasks_v2.CloudTasksClient

# Set by CI (.ci/run): a tool the tests need that is missing fails the test instead of
# skipping it, so CI never silently skips the browser, Node or gcloud tests.
REQUIRE_TOOLS = "CLOUD_TASKS_EMULATOR_REQUIRE_TOOLS"


def require_tool(found: str | None, what: str, how: str) -> str:
    """`found` (a tool's path); when it is None the test (or, called at module level, the
    module) is skipped with one line saying how to enable it, or fails where REQUIRE_TOOLS
    is set."""
    if found:
        return found
    reason = f"{what} not found; {how}"
    if os.environ.get(REQUIRE_TOOLS):
        pytest.fail(f"{reason} ({REQUIRE_TOOLS} is set, so a missing tool fails)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require_node() -> str:
    return require_tool(
        shutil.which("node") and shutil.which("npm"),
        "Node.js and npm (for the Node client and Firebase Admin SDK tests)",
        "install Node 18 or newer to run them",
    )


def find_chromium() -> str:
    """Debian's Chromium (or another on the PATH), else Playwright's own (`playwright
    install chromium`); browser test modules call it at import, so that without a browser
    each is skipped as a whole, in one line."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        with sync_playwright() as playwright:
            own = Path(playwright.chromium.executable_path)
            found = str(own) if own.exists() else None
    return require_tool(
        found,
        "Chromium (for the dashboard's browser tests)",
        "apt-get install chromium, or: playwright install chromium",
    )


def queue_path(queue_id: str, parent: str = PARENT) -> str:
    return f"{parent}/queues/{queue_id}"


def task_path(queue_id: str, task_id: str) -> str:
    return f"{queue_path(queue_id)}/tasks/{task_id}"


def http_task(url: str = TARGET_URL, **fields: Any) -> dict[str, Any]:
    """A task dict for the client: `http_request` entries merge into the request."""
    request: dict[str, Any] = {"url": url, **fields.pop("http_request", {})}
    return {"http_request": request, **fields}


def duration(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromTimedelta(timedelta(seconds=seconds))
    return d


def make_queue(client: Client, queue_id: str = "d", **config: Any) -> tasks_v2.Queue:
    """A queue of the test parent; `config` holds `tasks_v2.Queue` fields."""
    return client.create_queue(parent=PARENT, queue={"name": queue_path(queue_id), **config})


def fast_retries(**extra: Any) -> dict[str, Any]:
    """Queue fields for a retry config with no backoff, so retries follow at once."""
    return {"retry_config": {"min_backoff": duration(0), "max_backoff": duration(0), **extra}}


def get_full(client: Client, name: str) -> tasks_v2.Task:
    return client.get_task(request={"name": name, "response_view": tasks_v2.Task.View.FULL})


def connect(emulator: Emulator, transport: str) -> Client:
    """A sync client of `emulator` over `transport` ("grpc" or "rest")."""
    return emulator.client() if transport == "grpc" else emulator.rest_client()


@contextlib.contextmanager
def beta_client(emulator: Emulator) -> Iterator[tasks_v2beta3.CloudTasksClient]:
    """A v2beta3 gRPC client: its GetQueue shows queue stats (attempts in flight)."""
    channel = grpc.insecure_channel(emulator.grpc_target)
    try:
        yield tasks_v2beta3.CloudTasksClient(transport=BetaGrpcTransport(channel=channel))
    finally:
        channel.close()


# -- errors over either transport --------------------------------------------------------


@dataclass
class Raised:
    """What `expect_error` caught: the exception, and the message the service sent."""

    error: exceptions.GoogleAPICallError | None = None
    message: str = ""
    details: list[Any] = field(default_factory=list)


@contextlib.contextmanager
def expect_error(
    client: Client, kind: type[exceptions.GoogleAPICallError], message: str | None = None
) -> Iterator[Raised]:
    """Expect the error `kind` (a gRPC-mapped class such as `exceptions.InvalidArgument`).

    Over gRPC the client raises `kind` itself. Over REST the client maps errors by HTTP
    status only (409 is `Conflict` for ALREADY_EXISTS and ABORTED alike, 400 is
    `BadRequest` for INVALID_ARGUMENT and FAILED_PRECONDITION), so the canonical code is
    checked in the JSON error envelope instead, and the client's "METHOD URL: " prefix is
    taken off the message. `message`, when given, must equal the service's message.
    """
    rest = client.transport.kind == "rest"
    expected = exceptions.exception_class_for_http_status(kind.code) if rest else kind
    raised = Raised()
    with pytest.raises(expected) as info:
        yield raised
    error = info.value
    raised.error, raised.details = error, list(error.details)
    if rest:
        envelope = error.response.json()["error"]
        assert kind.grpc_status_code is not None
        assert envelope["status"] == kind.grpc_status_code.name, envelope
        assert error.message.endswith(": " + envelope["message"]), error.message
        raised.message = envelope["message"]
    else:
        raised.message = error.message
    if message is not None:
        assert raised.message == message


def help_urls(raised: Raised) -> list[str]:
    """The google.rpc.Help links of an error: parsed protos over gRPC, JSON over REST."""
    urls = []
    for detail in raised.details:
        links = detail["links"] if isinstance(detail, dict) else detail.links
        urls += [link["url"] if isinstance(link, dict) else link.url for link in links]
    return urls


# -- a target for the tasks ---------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # many connections at once (the default listen backlog is 5)


class Receiver:
    """A plain threaded HTTP target on 127.0.0.1 (no event loop) that records every request.

    - `requests` holds dicts: method, path, headers (case-insensitive), raw_headers (the
      names as sent), body.
    - `responses` scripts the answers in order: an int status, or (status, headers); when
      it runs out every request gets `status` (200).
    - `hold()` makes handlers wait (attempts stay in flight) until `release()`.
    - `/redirect/N` answers 302 to `/redirect/N-1`, and `/redirect/1` to `/done`.
    - `in_flight` and `max_in_flight` count requests being handled.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.responses: list[int | tuple[int, dict[str, str]]] = []
        self.status = 200
        self.in_flight = 0
        self.max_in_flight = 0
        self.arrived = threading.Condition()
        self._gate = threading.Event()
        self._gate.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.arrived:
                    receiver.requests.append(
                        {
                            "method": self.command,
                            "path": self.path,
                            "headers": CaseInsensitiveDict(self.headers.items()),
                            "raw_headers": list(self.headers.items()),
                            "body": body,
                        }
                    )
                    receiver.in_flight += 1
                    receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
                    receiver.arrived.notify_all()
                try:
                    status, headers = receiver._answer(self.path)
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                finally:
                    with receiver.arrived:
                        receiver.in_flight -= 1

            do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

            def log_message(self, *args: object) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        # A short poll interval: close() waits for the serving loop to notice.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def _answer(self, path: str) -> tuple[int, dict[str, str]]:
        if path.startswith("/redirect/"):
            hops = int(path.rsplit("/", 1)[1])
            return 302, {"Location": f"/redirect/{hops - 1}" if hops > 1 else "/done"}
        self._gate.wait()
        with self.arrived:
            answer = self.responses.pop(0) if self.responses else self.status
        return answer if isinstance(answer, tuple) else (answer, {})

    def hold(self) -> None:
        """Keep every request waiting for its answer until `release()`."""
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def wait_for(self, count: int, timeout: float = 15) -> list[dict[str, Any]]:
        """The first `count` requests, once they have arrived."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{len(self.requests)} requests arrived, expected {count}")
            return list(self.requests[:count])

    def close(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@contextmanager
def emulator_process(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    """`python -m emulator --data-dir DATA_DIR ARGS` on free ports, virtual clock, with no
    CLOUD_TASKS_EMULATOR_* variable but those of `env`; yields (process, gRPC target, HTTP
    URL), and kills it at the end if it still runs."""
    inherited = os.environ.items()
    env = {k: v for k, v in inherited if not k.startswith("CLOUD_TASKS_EMULATOR")} | (env or {})
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator",
            "--port",
            "0",
            "--http-port",
            "0",
            "--clock",
            "virtual",
            "--data-dir",
            str(data_dir),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "ready" in line, line + (process.stderr.read() if process.stderr else "")
        grpc_target = line.split(": gRPC ", 1)[1].split(",", 1)[0]
        http_url = line.split(", HTTP ", 1)[1].split(". ", 1)[0]
        yield process, grpc_target, http_url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        for stream in (process.stdout, process.stderr):
            assert stream is not None
            stream.close()


# -- raw connections and liveness (the robustness suites) ---------------------------------


def host_port(address: str) -> tuple[str, int]:
    """`host:port` or `http://host:port` as a socket address."""
    host, port = address.removeprefix("http://").rsplit(":", 1)
    return host.strip("[]"), int(port)


@dataclass
class RawReply:
    data: bytes
    ended: str  # "closed" (EOF), "reset", or "open" (still open, silent, when reading stopped)


def raw_exchange(
    address: str, data: bytes, *, half_close: bool = False, wait: float = 5.0
) -> RawReply:
    """Send `data` on a new connection and read until the server closes it, or until it
    has been silent for `wait` seconds. With `half_close` the sending side is shut after
    `data` (EOF: nothing more will come), else it stays open."""
    with socket.create_connection(host_port(address), timeout=wait) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return RawReply(received, "open")
            except ConnectionResetError:
                return RawReply(received, "reset")
            if not chunk:
                return RawReply(received, "closed")
            received += chunk


def grpc_client_of(target: str) -> tuple[grpc.Channel, Client]:
    """A client on a channel of its own to `target` (the gRPC port, or the HTTP port,
    which relays gRPC), with the library's own unlimited message sizes."""
    channel = grpc.insecure_channel(
        target,
        options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)],
    )
    return channel, Client(transport=CloudTasksGrpcTransport(channel=channel))


def still_serving(emulator: Emulator, timeout: float = 10) -> None:
    """A real RPC answers on the gRPC port, on the HTTP port over REST, and on the HTTP
    port over gRPC (relayed), each within `timeout` seconds."""
    for target in (emulator.grpc_target, emulator.emulator_host):
        channel, client = grpc_client_of(target)
        with channel:
            client.list_queues(parent=emulator.parent, timeout=timeout)
    rest = emulator.rest_client()
    try:
        rest.list_queues(parent=emulator.parent, timeout=timeout)
    finally:
        rest.transport.close()
