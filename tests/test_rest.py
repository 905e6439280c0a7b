"""What is particular to REST: the client's error mapping, tasks shared with gRPC clients,
and the JSON error envelope of requests no client sends (raw HTTP).

The API suites (test_queues, test_tasks, test_other_rpcs) run every rule over REST too;
the tests here walk each RPC once more through the REST client on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from google.api_core import exceptions
from google.cloud import tasks_v2
from google.cloud.location import locations_pb2
from google.iam.v1 import policy_pb2
from google.longrunning import operations_pb2
from google.protobuf import duration_pb2, field_mask_pb2

from emulator import Emulator
from emulator.core import errors

from support import PARENT, PROJECT, Client, Receiver, queue_path

FULL = tasks_v2.Task.View.FULL


@pytest.fixture
def rest(emu: Emulator) -> Iterator[Client]:
    client = emu.rest_client()
    yield client
    client.transport.close()


def test_queue_rpcs_over_rest(rest: Client) -> None:
    created = rest.create_queue(
        parent=PARENT,
        queue={
            "name": queue_path("r"),
            "retry_config": {"max_attempts": 7, "min_backoff": duration_pb2.Duration(seconds=2)},
        },
    )
    assert created.state == tasks_v2.Queue.State.RUNNING
    assert created.rate_limits.max_burst_size == 100
    assert created.retry_config.max_attempts == 7
    assert created.retry_config.min_backoff == timedelta(seconds=2)
    assert rest.get_queue(name=created.name) == created
    updated = rest.update_queue(
        queue={"name": created.name, "rate_limits": {"max_dispatches_per_second": 10}},
        update_mask=field_mask_pb2.FieldMask(paths=["rate_limits.max_dispatches_per_second"]),
    )
    assert updated.rate_limits.max_dispatches_per_second == 10
    assert updated.retry_config.max_attempts == 7
    upserted = rest.update_queue(queue={"name": queue_path("upserted")})
    assert upserted.rate_limits.max_dispatches_per_second == 500
    assert rest.pause_queue(name=created.name).state == tasks_v2.Queue.State.PAUSED
    paused = rest.list_queues(request={"parent": PARENT, "filter": "state: PAUSED"})
    assert [q.name for q in paused] == [created.name]
    pages = rest.list_queues(request={"parent": PARENT, "page_size": 1}).pages
    assert [[q.name for q in page.queues] for page in pages] == [
        [queue_path("r")],
        [queue_path("upserted")],
    ]
    assert rest.resume_queue(name=created.name).state == tasks_v2.Queue.State.RUNNING
    assert "purge_time" in rest.purge_queue(name=created.name)
    rest.delete_queue(name=created.name)
    with pytest.raises(exceptions.NotFound) as e:
        rest.get_queue(name=created.name)
    assert e.value.message.endswith(": " + errors.QUEUE_NOT_FOUND)  # "<METHOD> <URL>: ..."


def test_rest_errors_map_to_client_exceptions(rest: Client) -> None:
    rest.create_queue(parent=PARENT, queue={"name": queue_path("e")})
    with pytest.raises(exceptions.Conflict) as conflict:
        rest.create_queue(parent=PARENT, queue={"name": queue_path("e")})
    assert conflict.value.message.endswith(": Queue already exists")
    with pytest.raises(exceptions.BadRequest) as bad:
        rest.create_queue(parent=PARENT, queue={"name": "nope"})
    assert bad.value.message.endswith(": " + errors.QUEUE_NAME_FORMAT)
    with pytest.raises(exceptions.BadRequest):
        rest.create_queue(
            parent=PARENT,
            queue={"name": queue_path("x"), "rate_limits": {"max_dispatches_per_second": 900}},
        )


def test_task_rpcs_over_rest(
    rest: Client, grpc_client: Client, emu: Emulator, receiver: Receiver
) -> None:
    queue = rest.create_queue(parent=PARENT, queue={"name": queue_path("t")})
    rest.pause_queue(name=queue.name)
    task = rest.create_task(
        request={
            "parent": queue.name,
            "task": {
                "name": f"{queue.name}/tasks/rest-1",
                "http_request": {
                    "url": receiver.url,
                    "http_method": tasks_v2.HttpMethod.PUT,
                    "headers": {"X-Mixed-Case": "v"},
                    "body": b"\x00\xffbinary",
                    "oidc_token": {"service_account_email": "sa@p.iam"},
                },
                "dispatch_deadline": duration_pb2.Duration(seconds=30, nanos=500_000_000),
            },
            "response_view": FULL,
        }
    )
    assert task.http_request.body == b"\x00\xffbinary"
    assert task.dispatch_deadline == timedelta(seconds=30.5)
    assert task.http_request.http_method == tasks_v2.HttpMethod.PUT
    # Created over gRPC, read over REST, and the other way round.
    grpc_task = grpc_client.create_task(
        parent=queue.name, task={"http_request": {"url": receiver.url, "body": b"g"}}
    )
    assert (
        rest.get_task(request={"name": grpc_task.name, "response_view": FULL}).http_request.body
        == b"g"
    )
    assert grpc_client.get_task(name=task.name).http_request.headers["X-Mixed-Case"] == "v"
    listed = rest.list_tasks(request={"parent": queue.name, "response_view": FULL, "page_size": 1})
    assert [t.name for t in listed] == [task.name, grpc_task.name]
    ran = rest.run_task(name=task.name)
    assert ran.dispatch_count == 1
    (attempt,) = emu.wait_for_attempts(1)
    assert attempt.status == 200
    (request,) = receiver.requests
    assert request["method"] == "PUT"
    assert request["body"] == b"\x00\xffbinary"
    rest.delete_task(name=grpc_task.name)
    with pytest.raises(exceptions.NotFound) as e:
        rest.get_task(name=grpc_task.name)
    assert e.value.message.endswith(": " + errors.TASK_TOMBSTONED)


def test_iam_batch_cmek_locations_over_rest(rest: Client) -> None:
    queue = rest.create_queue(parent=PARENT, queue={"name": queue_path("misc")})
    binding = policy_pb2.Binding(role="roles/viewer", members=["user:a@b.c"])
    policy = rest.set_iam_policy(
        request={"resource": queue.name, "policy": policy_pb2.Policy(bindings=[binding])}
    )
    assert list(rest.get_iam_policy(resource=queue.name).bindings) == [binding]
    assert policy.etag
    granted = rest.test_iam_permissions(resource=queue.name, permissions=["cloudtasks.tasks.run"])
    assert list(granted.permissions) == ["cloudtasks.tasks.run"]

    operation = rest.batch_create_tasks(
        parent=queue.name,
        requests=[{"task": {"http_request": {"url": "http://127.0.0.1:9/"}}} for _ in range(3)],
    )
    created = operation.result().tasks
    assert len(created) == 3
    fetched = rest.get_operation(
        request=operations_pb2.GetOperationRequest(name=operation.operation.name)
    )
    assert fetched.done
    deleted = rest.batch_delete_tasks(parent=queue.name, names=[t.name for t in created])
    deleted.result()
    assert list(rest.list_tasks(parent=queue.name)) == []

    name = f"{PARENT}/cmekConfig"
    key = f"projects/{PROJECT}/locations/us-central1/keyRings/r/cryptoKeys/k"
    assert rest.update_cmek_config(cmek_config={"name": name, "kms_key": key}).kms_key == key
    assert rest.get_cmek_config(name=name).kms_key == key

    locations = rest.list_locations(
        request=locations_pb2.ListLocationsRequest(name=f"projects/{PROJECT}")
    )
    assert [loc.location_id for loc in locations.locations] == ["us-central1"]
    location = rest.get_location(request=locations_pb2.GetLocationRequest(name=PARENT))
    assert location.location_id == "us-central1"


# -- raw HTTP: what no client sends -------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "fragment"),
    [
        ("POST", f"/v2/{PARENT}/queues", b"{not json", 400, "INVALID_ARGUMENT", "Invalid JSON"),
        ("POST", f"/v2/{PARENT}/queues", b'{"colour": "blue"}', 400, "INVALID_ARGUMENT", "colour"),
        (
            "POST",
            f"/v2/{PARENT}/queues",
            b'{"state": "SLEEPING"}',
            400,
            "INVALID_ARGUMENT",
            "SLEEPING",
        ),
        ("PUT", f"/v2/{PARENT}/queues", b"{}", 404, "NOT_FOUND", "takes GET, POST"),
        ("GET", "/v2/nowhere/at/all", b"", 404, "NOT_FOUND", "not found"),
        ("GET", f"/v2/{PARENT}/queues?pageSize=many", b"", 400, "INVALID_ARGUMENT", "'page_size'"),
        (
            "POST",
            f"/v2/{PARENT}/queues/q/tasks",
            b'{"task": {"scheduleTime": ""}}',
            400,
            "INVALID_ARGUMENT",
            "Invalid value at 'task.schedule_time' (type.googleapis.com/google.protobuf.Timestamp):"
            ' "" is not an RFC 3339 timestamp, e.g. "2030-01-01T00:00:00Z".',
        ),
        (
            "POST",
            f"/v2/{PARENT}/queues/q/tasks",
            b'{"task": {"httpRequest": {"body": "not base64!"}}}',
            400,
            "INVALID_ARGUMENT",
            "'task.http_request.body' (TYPE_BYTES)",
        ),
        (
            "POST",
            f"/v2/{PARENT}/queues/q/tasks",
            b'{"task": {"dispatchDeadline": "30"}}',
            400,
            "INVALID_ARGUMENT",
            '"30" is not a duration in seconds, e.g. "30s"',
        ),
        (
            "PATCH",
            f"/v2/{PARENT}/queues/q",
            b'{"rateLimits": {"maxDispatchesPerSecond": "fast"}}',
            400,
            "INVALID_ARGUMENT",
            "'queue.rate_limits.max_dispatches_per_second' (TYPE_DOUBLE)",
        ),
        ("GET", f"/v2/{PARENT}/queues?colour=blue", b"", 400, "INVALID_ARGUMENT", "colour"),
        ("GET", f"/v2/{PARENT}/queues/q", b'{"x": 1}', 400, "INVALID_ARGUMENT", "no request body"),
        (
            "POST",
            f"/v2/{PARENT}/queues/q/tasks:buffer",
            b"{}",
            404,
            "NOT_FOUND",
            "Queue does not exist",
        ),
    ],
)
def test_malformed_rest_requests_get_json_errors(  # noqa: PLR0917  (parametrized)
    emu: Emulator, method: str, path: str, body: bytes, status: int, code: str, fragment: str
) -> None:
    response = requests.request(method, emu.http_url + path, data=body, timeout=10)
    assert response.status_code == status
    error = response.json()["error"]
    assert error == {"code": status, "message": error["message"], "status": code} | (
        {"details": error["details"]} if "details" in error else {}
    )
    assert fragment in error["message"]


@pytest.mark.parametrize(
    ("method", "path", "hint"),
    [
        ("GET", f"/v2beta2/{PARENT}/queues", "v2beta2 API (gcloud alpha tasks"),
        ("GET", f"/{PARENT}/queues", "Cloud Tasks REST paths start with /v2/"),
        ("POST", f"/{PARENT}/queues/q:pause", "the Firebase task-queue calls"),
        ("GET", "/v1/apps/p/services", "Of the App Engine Admin API only GET /v1/apps/PROJECT"),
        ("GET", "/favicon.ico", "The emulator serves /v2/ and /v2beta3/"),
        ("GET", "/_emulator/nothing", "The emulator serves /v2/ and /v2beta3/"),
        ("GET", "/_emulator/reset", "No GET method for /_emulator/reset; it takes POST"),
        ("DELETE", "/healthz", "No DELETE method for /healthz; it takes GET, HEAD"),
    ],
)
def test_every_unknown_path_is_a_json_404_with_a_hint(
    emu: Emulator, method: str, path: str, hint: str
) -> None:
    response = requests.request(method, emu.http_url + path, timeout=10)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["status"] == "NOT_FOUND"
    assert hint in error["message"]


def test_healthz_and_the_index_answer_json(emu: Emulator) -> None:
    assert requests.get(emu.http_url + "/healthz", timeout=10).json() == {"status": "SERVING"}
    assert requests.get(emu.http_url + "/", timeout=10).json()["service"] == (
        "cloud-tasks-emulator"
    )


def test_rest_accepts_enum_names_and_numbers_and_answers_names(emu: Emulator) -> None:
    base = emu.http_url + f"/v2/{PARENT}/queues"
    created = requests.post(
        base + "?alt=json", json={"name": queue_path("enums")}, timeout=10
    ).json()
    assert created["state"] == "RUNNING"
    assert created["retryConfig"]["minBackoff"] == "0.100s"
    task = requests.post(
        f"{base}/enums/tasks?%24alt=json%3Benum-encoding%3Dint",
        json={
            "task": {"httpRequest": {"url": "http://127.0.0.1:9/", "httpMethod": "PUT"}},
            "responseView": 2,
        },
        timeout=10,
    ).json()
    assert task["httpRequest"]["httpMethod"] == "PUT"
    assert task["view"] == "FULL"


def test_buffer_task_uses_the_queue_routing(emu: Emulator, receiver: Receiver) -> None:
    base = emu.http_url + f"/v2/{PARENT}/queues"
    port = receiver.port
    requests.post(
        base,
        json={
            "name": queue_path("buf"),
            "httpTarget": {
                "uriOverride": {
                    "scheme": "HTTP",
                    "host": "127.0.0.1",
                    "port": str(port),
                    "pathOverride": {"path": "/buffered"},
                }
            },
        },
        timeout=10,
    ).raise_for_status()
    response = requests.post(
        f"{base}/buf/tasks/b1:buffer",
        json={"body": {"contentType": "application/json", "data": "eyJhIjogMX0="}},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["task"]["name"] == f"{queue_path('buf')}/tasks/b1"
    emu.wait_for_attempts(1)
    (request,) = receiver.requests
    assert request["path"] == "/buffered"
    assert request["body"] == b'{"a": 1}'
    assert request["headers"]["content-type"] == "application/json"
    plain = requests.post(base, json={"name": queue_path("plain")}, timeout=10)
    plain.raise_for_status()
    refused = requests.post(f"{base}/plain/tasks:buffer", json={}, timeout=10)
    assert refused.status_code == 400
    assert refused.json()["error"]["status"] == "FAILED_PRECONDITION"
