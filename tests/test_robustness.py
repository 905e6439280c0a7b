"""No request of any shape may crash the server or earn UNKNOWN/INTERNAL.

Random requests go through the real client (built from random wire bytes and from
random field values); afterwards the server must still answer normally. Random field
values go over gRPC and REST; random wire bytes and raw JSON bodies each need their own
transport.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import grpc
import pytest
import requests
from google.api_core import exceptions
from google.cloud.tasks_v2.types import cloudtasks
from google.protobuf import json_format, timestamp_pb2
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator import Emulator

from support import PARENT, Client, http_task, queue_path

# Client method -> request type, for every CloudTasks RPC.
RPCS: dict[str, Any] = {
    "list_queues": cloudtasks.ListQueuesRequest,
    "get_queue": cloudtasks.GetQueueRequest,
    "create_queue": cloudtasks.CreateQueueRequest,
    "update_queue": cloudtasks.UpdateQueueRequest,
    "delete_queue": cloudtasks.DeleteQueueRequest,
    "purge_queue": cloudtasks.PurgeQueueRequest,
    "pause_queue": cloudtasks.PauseQueueRequest,
    "resume_queue": cloudtasks.ResumeQueueRequest,
    "list_tasks": cloudtasks.ListTasksRequest,
    "get_task": cloudtasks.GetTaskRequest,
    "create_task": cloudtasks.CreateTaskRequest,
    "delete_task": cloudtasks.DeleteTaskRequest,
    "run_task": cloudtasks.RunTaskRequest,
    "batch_create_tasks": cloudtasks.BatchCreateTasksRequest,
    "batch_delete_tasks": cloudtasks.BatchDeleteTasksRequest,
    "get_cmek_config": cloudtasks.GetCmekConfigRequest,
    "update_cmek_config": cloudtasks.UpdateCmekConfigRequest,
}
FORBIDDEN = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}
FORBIDDEN_NAMES = {code.name for code in FORBIDDEN}
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _call(client: Client, method: str, request: Any) -> None:
    try:
        getattr(client, method)(request=request)
    except exceptions.GoogleAPICallError as error:
        if client.transport.kind == "rest":  # REST errors carry the code in their JSON
            status = error.response.json()["error"]["status"]
            assert status not in FORBIDDEN_NAMES, f"{method}: {error}"  # noqa: PT017
        else:
            assert error.grpc_status_code not in FORBIDDEN, f"{method}: {error}"  # noqa: PT017
    except (TypeError, ValueError, json_format.SerializeToJsonError):
        pass  # the client itself refused the request before sending it


def _still_healthy(client: Client) -> None:
    name = queue_path("canary")
    with contextlib.suppress(exceptions.NotFound):
        client.delete_queue(name=name)
    client.create_queue(parent=PARENT, queue={"name": name})
    client.create_task(parent=name, task=http_task())


def test_unparseable_bytes_are_invalid_argument(emu: Emulator) -> None:
    # gRPC only, and without the client: it must send bytes no client would.
    with grpc.insecure_channel(emu.grpc_target) as channel:
        for rpc in ("CreateQueue", "CreateTask", "ListQueues", "UpdateQueue"):
            call = channel.unary_unary(f"/google.cloud.tasks.v2.CloudTasks/{rpc}")
            with pytest.raises(grpc.RpcError) as e:
                call(b"\xff\xff\xff\xff")
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "could not be parsed" in e.value.details()


@pytest.mark.parametrize("method", sorted(RPCS))
@FUZZ
@given(raw=st.binary(max_size=200))
def test_random_wire_requests(grpc_client: Client, method: str, raw: bytes) -> None:
    # gRPC only: random protobuf wire bytes, decoded into requests the REST client's URL
    # templates would mostly refuse before sending (REST gets random JSON below).
    client = grpc_client
    try:
        request = RPCS[method].deserialize(raw)
    except (DecodeError, RuntimeError, ValueError):
        return
    _call(client, method, request)
    _still_healthy(client)


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**31), max_value=2**31 - 1),
)
seconds = st.integers(min_value=-(2**40), max_value=2**40)
nanos = st.integers(min_value=-(2**31), max_value=2**31 - 1)
texts = st.text(max_size=40)


def _duration(draw: Any) -> dict[str, int]:
    return {"seconds": draw(seconds), "nanos": draw(nanos)}


@st.composite
def queue_configs(draw: Any) -> dict[str, Any]:
    rate = draw(numbers)
    return {
        "rate_limits": {
            "max_dispatches_per_second": float(rate),
            "max_concurrent_dispatches": int(rate) if math.isfinite(rate) else 0,
        },
        "retry_config": {
            "max_attempts": draw(st.integers(-(2**31), 2**31 - 1)),
            "max_retry_duration": _duration(draw),
            "min_backoff": _duration(draw),
            "max_backoff": _duration(draw),
            "max_doublings": draw(st.integers(-(2**31), 2**31 - 1)),
        },
        "http_target": {
            "uri_override": {"host": draw(texts), "port": draw(st.integers(-(2**63), 2**63 - 1))},
            "http_method": draw(st.integers(0, 10)),
        },
        "stackdriver_logging_config": {"sampling_ratio": float(draw(numbers))},
    }


@FUZZ
@given(config=queue_configs(), queue_id=texts)
def test_random_queue_configs(client: Client, config: dict[str, Any], queue_id: str) -> None:
    try:
        queue = {"name": queue_path(queue_id), **config}
        _call(client, "create_queue", {"parent": PARENT, "queue": queue})
        _call(client, "update_queue", {"queue": queue, "update_mask": {"paths": ["rate_limits"]}})
    except (TypeError, ValueError, OverflowError):
        return  # the client could not encode the values
    _still_healthy(client)


@st.composite
def tasks(draw: Any) -> dict[str, Any]:
    request = {
        "url": draw(st.one_of(texts, st.just("http://127.0.0.1:9/x"))),
        "http_method": draw(st.integers(0, 12)),
        "headers": draw(st.dictionaries(texts, texts, max_size=3)),
        "body": draw(st.binary(max_size=20)),
    }
    return {
        "name": draw(st.one_of(st.just(""), texts.map(lambda t: f"{queue_path('f')}/tasks/{t}"))),
        "http_request": request,
        "schedule_time": timestamp_pb2.Timestamp(seconds=draw(seconds), nanos=draw(nanos)),
        "dispatch_deadline": _duration(draw),
    }


@FUZZ
@given(task=tasks(), view=st.integers(-5, 5))
def test_random_tasks(client: Client, task: dict[str, Any], view: int) -> None:
    with contextlib.suppress(exceptions.Conflict):  # REST's class for ALREADY_EXISTS
        client.create_queue(parent=PARENT, queue={"name": queue_path("f")})
    try:
        _call(
            client, "create_task", {"parent": queue_path("f"), "task": task, "response_view": view}
        )
    except (TypeError, ValueError, OverflowError):
        return
    _still_healthy(client)


FIELD_NAMES = [
    "name", "queue", "task", "rateLimits", "retryConfig", "httpRequest", "url", "body",
    "scheduleTime", "dispatchDeadline", "httpMethod", "headers", "requests", "policy",
    "responseView", "appEngineHttpRequest", "httpTarget", "taskTtl", "seconds", "to",
    "updateMask", "state", "etag", "bindings",
]  # fmt: skip


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3)
    ),
    max_leaves=8,
)
REST_PATHS = [
    ("POST", f"/v2/{PARENT}/queues"),
    ("PATCH", f"/v2/{PARENT}/queues/f"),
    ("POST", f"/v2/{PARENT}/queues/f/tasks"),
    ("POST", f"/v2/{PARENT}/queues/f/tasks:batchCreate"),
    ("POST", f"/v2/{PARENT}/queues/f:setIamPolicy"),
    ("POST", f"/v2beta3/{PARENT}/queues"),
    ("POST", f"/v2beta3/{PARENT}/queues/f/tasks"),
    ("POST", f"/v2/{PARENT}/queues/f/tasks/b:buffer"),
    ("POST", "/_emulator/advance"),
]


@pytest.mark.parametrize(("method", "path"), REST_PATHS)
@FUZZ
@given(body=st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=4))
def test_random_rest_json_never_fails_inside(
    grpc_client: Client, emu: Emulator, method: str, path: str, body: dict[str, Any]
) -> None:
    client = grpc_client
    with contextlib.suppress(exceptions.AlreadyExists):
        client.create_queue(parent=PARENT, queue={"name": queue_path("f")})
    response = requests.request(method, emu.http_url + path, json=body, timeout=30)
    assert response.status_code < 500 or response.status_code == 504, response.text
    if response.status_code >= 400:
        assert response.json()["error"]["status"]
    _still_healthy(client)
