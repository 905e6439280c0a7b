"""Requests at and past the size limits, huge gRPC metadata, and deeply nested JSON.

The emulator reads at most 32 MiB a request on both ports (`MAX_REQUEST_BYTES`) and
keeps a task to 1 MiB - 7 bytes. Past a limit the answer must be a clear error, never a
hang, UNKNOWN/INTERNAL or a 500; just under it the request must work; either way the
emulator serves on.

What the emulator answers (recorded by the tests below):
- gRPC message over 32 MiB (gRPC port, or the HTTP port's relay): RESOURCE_EXHAUSTED
  "Received message larger than max".
- HTTP body over 32 MiB (with Content-Length or chunked): 400 INVALID_ARGUMENT in the
  JSON envelope, "The request body is too large: ..." (not 413).
- A batch of 100 tasks near the task size limit (~100 MiB) is over that limit too:
  RESOURCE_EXHAUSTED; 30 of them fit.
- ListTasks pages end before 16 MiB (`MAX_PAGE_BYTES`), so FULL views of large tasks
  come in several pages on both transports, never as a message over the limit.
- gRPC metadata over 16 KiB in all: RESOURCE_EXHAUSTED ("received metadata size exceeds
  hard limit"), on both ports; up to 16 KiB, always served (one limit, not gRPC's soft
  limit of 8 KiB that refuses calls at random).
- JSON nested deeper than the parser's stack: INVALID_ARGUMENT "nested too deeply"; a
  ListQueues filter nested more than 100 levels: INVALID_ARGUMENT.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from google.api_core import exceptions
from google.cloud import tasks_v2

from emulator import Emulator

from support import PARENT, Client, expect_error, grpc_client_of, http_task, still_serving

MiB = 1024 * 1024
OVER_LIMIT = 33 * MiB  # past MAX_REQUEST_BYTES (32 MiB)
NEAR_TASK_LIMIT = MiB - 400  # a body that keeps the task under 1 MiB - 7 bytes
FULL = tasks_v2.Task.View.FULL


@pytest.fixture
def paused_queue(emu: Emulator) -> str:
    """A paused queue: nothing in it is dispatched."""
    client = emu.client()
    name = emu.queue_name("q")
    client.create_queue(parent=emu.parent, queue={"name": name})
    client.pause_queue(name=name)
    return name


@pytest.fixture(params=["grpc-port", "http-port"])
def grpc_on_either_port(emu: Emulator, request: pytest.FixtureRequest) -> Iterator[Client]:
    """A gRPC client (unlimited message sizes, as the library's own channel) of the
    gRPC port or of the HTTP port, which relays gRPC."""
    target = emu.grpc_target if request.param == "grpc-port" else emu.emulator_host
    channel, client = grpc_client_of(target)
    with channel:
        yield client


def _near_limit_tasks(count: int) -> list[dict[str, Any]]:
    return [
        {"task": http_task(http_request={"body": b"y" * NEAR_TASK_LIMIT})} for _ in range(count)
    ]


# -- message and body size ------------------------------------------------------------------


def test_grpc_message_over_the_limit_is_resource_exhausted(
    emu: Emulator, grpc_on_either_port: Client, paused_queue: str
) -> None:
    with pytest.raises(exceptions.ResourceExhausted, match="larger than max"):
        grpc_on_either_port.create_task(
            parent=paused_queue,
            task=http_task(http_request={"body": b"x" * OVER_LIMIT}),
            timeout=60,
        )
    still_serving(emu)
    assert list(emu.client().list_tasks(parent=paused_queue)) == []


def _rest_create_task_body(size: int) -> bytes:
    data = base64.b64encode(b"x" * size).decode()
    return json.dumps(
        {"task": {"httpRequest": {"url": "http://127.0.0.1:9/", "body": data}}}
    ).encode()


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_http_body_over_the_limit_is_a_json_error(
    emu: Emulator, paused_queue: str, framing: str
) -> None:
    body = _rest_create_task_body(OVER_LIMIT * 3 // 4)  # base64: 4/3 as long
    assert len(body) > 32 * MiB
    chunks = (body[i : i + MiB] for i in range(0, len(body), MiB))
    response = requests.post(
        f"{emu.http_url}/v2/{paused_queue}/tasks",
        data=body if framing == "content-length" else chunks,
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 400, response.text[:300]
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"].startswith("The request body is too large")
    still_serving(emu)


def test_rest_client_body_over_the_limit_is_invalid_argument(
    emu: Emulator, paused_queue: str
) -> None:
    client = emu.rest_client()
    try:
        with expect_error(client, exceptions.InvalidArgument) as raised:
            client.create_task(
                parent=paused_queue, task=http_task(http_request={"body": b"x" * OVER_LIMIT})
            )
        assert raised.message.startswith("The request body is too large")
    finally:
        client.transport.close()
    still_serving(emu)


def test_a_task_just_under_the_task_size_limit_works(client: Client, paused_queue: str) -> None:
    # `client` is gRPC and REST (JSON, base64: a 1.4 MB body).
    created = client.create_task(
        parent=paused_queue, task=http_task(http_request={"body": b"y" * NEAR_TASK_LIMIT})
    )
    read = client.get_task(request={"name": created.name, "response_view": FULL})
    assert read.http_request.body == b"y" * NEAR_TASK_LIMIT
    with expect_error(client, exceptions.InvalidArgument) as raised:
        client.create_task(parent=paused_queue, task=http_task(http_request={"body": b"y" * MiB}))
    assert raised.message.startswith("Task size is ")


@pytest.mark.parametrize(("transport", "count"), [("grpc", 30), ("rest", 20)])
def test_a_batch_just_under_the_request_limit_works(
    emu: Emulator, paused_queue: str, transport: str, count: int
) -> None:
    # gRPC: 30 tasks of ~1 MiB are ~30 MiB; REST: 20 are ~28 MiB of base64 JSON.
    client = emu.client() if transport == "grpc" else emu.rest_client()
    try:
        operation = client.batch_create_tasks(
            request={"parent": paused_queue, "requests": _near_limit_tasks(count)}
        )
        assert operation.result(timeout=30)
    finally:
        if transport == "rest":
            client.transport.close()
    assert len(list(emu.client().list_tasks(parent=paused_queue))) == count


def test_a_batch_over_the_request_limit_is_resource_exhausted(
    emu: Emulator, paused_queue: str
) -> None:
    # 100 tasks near the task size limit are ~100 MiB: past the documented 32 MiB.
    channel, client = grpc_client_of(emu.grpc_target)
    with channel, pytest.raises(exceptions.ResourceExhausted, match="larger than max"):
        client.batch_create_tasks(
            request={"parent": paused_queue, "requests": _near_limit_tasks(100)}, timeout=60
        )
    assert list(emu.client().list_tasks(parent=paused_queue)) == []
    still_serving(emu)


@pytest.fixture
def tasks_over_32_mib(emu: Emulator, paused_queue: str) -> str:
    """35 tasks of ~1 MiB each: their FULL view is more than one 32 MiB message."""
    channel, client = grpc_client_of(emu.grpc_target)
    with channel:
        for count in (30, 5):
            client.batch_create_tasks(
                request={"parent": paused_queue, "requests": _near_limit_tasks(count)}
            ).result(timeout=30)
    return paused_queue


def test_rest_lists_full_tasks_over_32_mib(emu: Emulator, tasks_over_32_mib: str) -> None:
    client = emu.rest_client()
    try:
        tasks = list(
            client.list_tasks(request={"parent": tasks_over_32_mib, "response_view": FULL})
        )
    finally:
        client.transport.close()
    assert len(tasks) == 35
    assert all(len(t.http_request.body) == NEAR_TASK_LIMIT for t in tasks)


def test_grpc_lists_full_tasks_over_32_mib(emu: Emulator, tasks_over_32_mib: str) -> None:
    channel, client = grpc_client_of(emu.grpc_target)
    with channel:
        request = {"parent": tasks_over_32_mib, "response_view": FULL}
        pages = list(client.list_tasks(request=request, timeout=60).pages)
    # A page ends before 16 MiB (16 such tasks), with a token for the rest.
    assert [len(page.tasks) for page in pages] == [16, 16, 3]
    names = [task.name for page in pages for task in page.tasks]
    assert len(set(names)) == 35


def test_emulator_client_receives_answers_over_4_mib(emu: Emulator, paused_queue: str) -> None:
    client = emu.client()
    client.batch_create_tasks(
        request={"parent": paused_queue, "requests": _near_limit_tasks(5)}
    ).result(timeout=30)
    tasks = list(client.list_tasks(request={"parent": paused_queue, "response_view": FULL}))
    assert len(tasks) == 5


# -- gRPC metadata ------------------------------------------------------------------------

METADATA = {
    "1MB-value": [("x-big", "a" * 1_000_000)],
    "100KB-binary": [("x-big-bin", b"\x00" * 100_000)],
    "3000-entries": [(f"x-h{i}", "v") for i in range(3000)],
}


@pytest.mark.parametrize("case", sorted(METADATA))
def test_huge_metadata_is_resource_exhausted(
    emu: Emulator, grpc_on_either_port: Client, case: str
) -> None:
    with pytest.raises(exceptions.ResourceExhausted):
        grpc_on_either_port.list_queues(parent=emu.parent, metadata=METADATA[case], timeout=30)
    still_serving(emu)


def test_metadata_under_the_limit_is_served(emu: Emulator, grpc_on_either_port: Client) -> None:
    # Under 8 KiB in all (gRPC's soft limit, past which refusals start).
    metadata = [("x-big", "a" * 4000), *[(f"x-h{i}", "v") for i in range(50)]]
    for _ in range(20):
        grpc_on_either_port.list_queues(parent=emu.parent, metadata=metadata, timeout=30)


def test_metadata_between_grpcs_soft_and_hard_limits_is_served(
    emu: Emulator, grpc_on_either_port: Client
) -> None:
    # gRPC's own soft limit (8 KiB) would refuse some of these at random; the emulator
    # has one limit, 16 KiB, so every one is served.
    metadata = [("x-big", "a" * 12_000)]
    for _ in range(20):  # at gRPC's default odds, 20 served by chance are 1 in 1,000,000
        grpc_on_either_port.list_queues(parent=emu.parent, metadata=metadata, timeout=30)


# -- deeply nested JSON --------------------------------------------------------------------

Q = "projects/test-project/locations/us-central1/queues/q"
JSON_ROUTES = [
    ("POST", "/v2/projects/test-project/locations/us-central1/queues"),  # CreateQueue
    ("PATCH", f"/v2/{Q}"),  # UpdateQueue
    ("POST", f"/v2/{Q}:pause"),
    ("POST", f"/v2/{Q}/tasks"),  # CreateTask
    ("POST", f"/v2/{Q}/tasks:batchCreate"),
    ("POST", f"/v2/{Q}/tasks:buffer"),
    ("POST", f"/v2beta3/{Q}/tasks"),
    ("POST", f"/{Q}/tasks"),  # the Firebase route
    ("POST", "/_emulator/advance"),
    ("POST", "/_emulator/wait-until-idle"),
]


def _nested(shape: str, depth: int) -> bytes:
    if shape == "arrays":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


def _post_json(emu: Emulator, method: str, path: str, body: bytes) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    return requests.request(method, emu.http_url + path, data=body, headers=headers, timeout=30)


@pytest.mark.usefixtures("paused_queue")
@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
def test_nested_json_arrays_are_invalid_argument(emu: Emulator, method: str, path: str) -> None:
    # 500 deep: within what the JSON parser takes; not an object, so INVALID_ARGUMENT.
    response = _post_json(emu, method, path, _nested("arrays", 500))
    assert response.status_code == 400, response.text[:300]
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


@pytest.mark.usefixtures("paused_queue")
@pytest.mark.parametrize("shape", ["arrays", "objects"])
@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
def test_deeply_nested_json_is_invalid_argument(
    emu: Emulator, method: str, path: str, shape: str
) -> None:
    response = _post_json(emu, method, path, _nested(shape, 100_000))
    still_serving(emu)
    assert response.status_code == 400, response.text[:300]
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


# -- deeply nested ListQueues filters ------------------------------------------------------

FILTERS = {
    "400-parentheses": "(" * 400 + "state:PAUSED" + ")" * 400,
    "1000-NOTs": "NOT " * 1000 + "state:PAUSED",
    "1000-minuses": "-" * 1000 + "state:PAUSED",
}


def test_nested_filters_within_reason_work(client: Client) -> None:
    # 100 levels, the most the filter parser takes; the filter matches nothing.
    nested = "(" * 100 + "state:PAUSED" + ")" * 100
    assert list(client.list_queues(request={"parent": PARENT, "filter": nested})) == []


@pytest.mark.parametrize("case", sorted(FILTERS))
def test_deeply_nested_filters_are_invalid_argument(
    emu: Emulator, client: Client, case: str
) -> None:
    with expect_error(client, exceptions.InvalidArgument) as raised:
        list(client.list_queues(request={"parent": PARENT, "filter": FILTERS[case]}))
    assert "nest more than 100 levels deep" in raised.message
    still_serving(emu)
