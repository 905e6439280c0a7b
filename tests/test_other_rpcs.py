"""IAM, batches and operations, CMEK, locations and health through the real clients, over
gRPC and REST (health over gRPC only)."""

from __future__ import annotations

import grpc
import pytest
from google.api_core import exceptions
from google.cloud import tasks_v2
from google.cloud.location import locations_pb2
from google.cloud.tasks_v2.types import cloudtasks
from google.iam.v1 import policy_pb2
from google.longrunning import operations_pb2
from google.protobuf import field_mask_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from emulator import Emulator
from emulator.core import errors

from support import PARENT, PROJECT, Client, expect_error, http_task, queue_path

OPERATION_FORMAT = (
    'Operation name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/'
    'operations/<OPERATION_ID>".'
)
CMEK_FORMAT = (
    'CMEK config name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/'
    'cmekConfig".'
)
LOCATION_FORMAT = 'Location must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>".'
PROJECT_FORMAT = 'Project must be formatted: "projects/<PROJECT_ID>".'

# -- IAM --------------------------------------------------------------------------------


def test_new_queue_has_an_empty_policy(client: Client, queue: tasks_v2.Queue) -> None:
    policy = client.get_iam_policy(resource=queue.name)
    assert list(policy.bindings) == []
    assert policy.etag


def test_set_iam_policy_replaces_and_changes_the_etag(
    client: Client, queue: tasks_v2.Queue
) -> None:
    first = client.get_iam_policy(resource=queue.name)
    binding = policy_pb2.Binding(role="roles/cloudtasks.enqueuer", members=["user:a@b.c"])
    stored = client.set_iam_policy(
        request={"resource": queue.name, "policy": policy_pb2.Policy(bindings=[binding])}
    )
    assert list(stored.bindings) == [binding]
    assert stored.etag != first.etag
    again = client.get_iam_policy(resource=queue.name)
    assert again == stored


def test_set_iam_policy_with_stale_etag_is_aborted(client: Client, queue: tasks_v2.Queue) -> None:
    stale = client.get_iam_policy(resource=queue.name).etag
    client.set_iam_policy(request={"resource": queue.name, "policy": policy_pb2.Policy()})
    with expect_error(client, exceptions.Aborted):
        client.set_iam_policy(
            request={"resource": queue.name, "policy": policy_pb2.Policy(etag=stale)}
        )
    current = client.get_iam_policy(resource=queue.name)
    binding = policy_pb2.Binding(role="roles/viewer", members=["user:x@y.z"])
    updated = client.set_iam_policy(
        request={
            "resource": queue.name,
            "policy": policy_pb2.Policy(etag=current.etag, bindings=[binding]),
        }
    )
    assert list(updated.bindings) == [binding]


def test_set_iam_policy_update_mask(client: Client, queue: tasks_v2.Queue) -> None:
    binding = policy_pb2.Binding(role="roles/viewer", members=["user:x@y.z"])
    client.set_iam_policy(
        request={"resource": queue.name, "policy": policy_pb2.Policy(bindings=[binding])}
    )
    kept = client.set_iam_policy(
        request={
            "resource": queue.name,
            "policy": policy_pb2.Policy(version=3),
            "update_mask": field_mask_pb2.FieldMask(paths=["version"]),
        }
    )
    assert kept.version == 3
    assert list(kept.bindings) == [binding]
    with expect_error(client, exceptions.InvalidArgument):
        client.set_iam_policy(
            request={
                "resource": queue.name,
                "policy": policy_pb2.Policy(),
                "update_mask": field_mask_pb2.FieldMask(paths=["owner"]),
            }
        )


def test_iam_on_missing_queue(client: Client) -> None:
    name = queue_path("missing")
    with expect_error(client, exceptions.NotFound):
        client.get_iam_policy(resource=name)
    with expect_error(client, exceptions.NotFound):
        client.set_iam_policy(request={"resource": name, "policy": policy_pb2.Policy()})
    # TestIamPermissions never says NOT_FOUND: it grants nothing.
    response = client.test_iam_permissions(resource=name, permissions=["cloudtasks.tasks.create"])
    assert list(response.permissions) == []


def test_test_iam_permissions_grants_everything_asked(
    client: Client, queue: tasks_v2.Queue
) -> None:
    asked = ["cloudtasks.tasks.create", "cloudtasks.queues.get"]
    response = client.test_iam_permissions(resource=queue.name, permissions=asked)
    assert list(response.permissions) == asked


def test_iam_with_malformed_resource_is_invalid(client: Client) -> None:
    with expect_error(client, exceptions.InvalidArgument, errors.QUEUE_NAME_FORMAT):
        client.get_iam_policy(resource="projects/p/locations/l/queues/bad_id")
    with expect_error(
        client, exceptions.InvalidArgument, "SetIamPolicyRequest.policy is required."
    ):
        client.set_iam_policy(request={"resource": queue_path("q")})


# -- batches and operations -------------------------------------------------------------


def test_batch_create_tasks_creates_them_all(client: Client, queue: tasks_v2.Queue) -> None:
    requests = [{"task": http_task(name=f"{queue.name}/tasks/b{i}")} for i in range(3)]
    operation = client.batch_create_tasks(parent=queue.name, requests=requests)
    result = operation.result()
    assert [t.name for t in result.tasks] == [f"{queue.name}/tasks/b{i}" for i in range(3)]
    assert operation.metadata.state == cloudtasks.BatchCreateTasksMetadata.State.SUCCEEDED
    assert operation.metadata.start_time <= operation.metadata.end_time
    assert len(list(client.list_tasks(parent=queue.name))) == 3
    fetched = client.get_operation(
        request=operations_pb2.GetOperationRequest(name=operation.operation.name)
    )
    assert fetched.done
    assert fetched == operation.operation


def test_batch_create_reports_partial_failures(client: Client, queue: tasks_v2.Queue) -> None:
    client.create_task(parent=queue.name, task=http_task(name=f"{queue.name}/tasks/taken"))
    operation = client.batch_create_tasks(
        parent=queue.name,
        requests=[
            {"task": http_task(name=f"{queue.name}/tasks/fresh")},
            {"task": http_task(name=f"{queue.name}/tasks/taken")},
            {"task": http_task("ftp://nope")},
        ],
    )
    result = operation.result()
    assert [t.name.rsplit("/", 1)[1] for t in result.tasks] == ["fresh"]
    metadata = operation.metadata
    assert metadata.state == cloudtasks.BatchCreateTasksMetadata.State.PARTIALLY_SUCCEEDED
    assert sorted(metadata.failed_requests) == [1, 2]
    assert metadata.failed_requests[1].code == errors.Code.ALREADY_EXISTS
    assert metadata.failed_requests[2].code == errors.Code.INVALID_ARGUMENT


def test_batch_where_everything_fails_is_aborted(client: Client, queue: tasks_v2.Queue) -> None:
    operation = client.batch_create_tasks(
        parent=queue.name,
        requests=[
            {"task": http_task("nope")},
            {"parent": queue_path("other"), "task": http_task()},
        ],
    )
    # The operation's own status: the same exception class over both transports.
    with pytest.raises(exceptions.Aborted) as e:
        operation.result()
    assert "None of the requests succeeded" in e.value.message
    assert operation.metadata.state == cloudtasks.BatchCreateTasksMetadata.State.FAILED


def test_batch_request_id_makes_it_idempotent(client: Client, queue: tasks_v2.Queue) -> None:
    request = {"parent": queue.name, "requests": [{"task": http_task()}], "request_id": "r-1"}
    first = client.batch_create_tasks(request=request)
    second = client.batch_create_tasks(request=request)
    assert first.operation.name == second.operation.name
    assert len(list(client.list_tasks(parent=queue.name))) == 1


def test_batch_limits(client: Client, queue: tasks_v2.Queue) -> None:
    with expect_error(client, exceptions.InvalidArgument):
        client.batch_create_tasks(parent=queue.name, requests=[])
    with expect_error(client, exceptions.InvalidArgument) as raised:
        client.batch_create_tasks(
            parent=queue.name, requests=[{"task": http_task()} for _ in range(101)]
        )
    assert "At most 100" in raised.message
    with expect_error(client, exceptions.InvalidArgument) as raised:
        client.batch_delete_tasks(parent=queue.name, names=[f"{queue.name}/tasks/t"] * 1001)
    assert "At most 1000" in raised.message
    with expect_error(client, exceptions.NotFound):
        client.batch_create_tasks(parent=queue_path("missing"), requests=[{"task": http_task()}])


def test_batch_delete_tasks(client: Client, queue: tasks_v2.Queue) -> None:
    names = [
        client.create_task(parent=queue.name, task=http_task(name=f"{queue.name}/tasks/d{i}")).name
        for i in range(3)
    ]
    operation = client.batch_delete_tasks(
        parent=queue.name, names=[*names[:2], f"{queue.name}/tasks/unknown"]
    )
    operation.result()
    metadata = operation.metadata
    assert metadata.state == cloudtasks.BatchDeleteTasksMetadata.State.PARTIALLY_SUCCEEDED
    assert list(metadata.failed_requests) == [2]
    assert metadata.failed_requests[2].code == errors.Code.NOT_FOUND
    assert [t.name for t in client.list_tasks(parent=queue.name)] == [names[2]]
    # Deleted names are tombstoned like DeleteTask's.
    with expect_error(client, exceptions.AlreadyExists):
        client.create_task(parent=queue.name, task=http_task(name=names[0]))


def test_get_operation_errors(client: Client) -> None:
    with expect_error(client, exceptions.NotFound):
        client.get_operation(
            request=operations_pb2.GetOperationRequest(name=f"{PARENT}/operations/nope")
        )
    with expect_error(client, exceptions.InvalidArgument, OPERATION_FORMAT):
        client.get_operation(
            request=operations_pb2.GetOperationRequest(name="projects/p!/locations/l/operations/x")
        )


# -- CMEK -------------------------------------------------------------------------------


def test_cmek_config_is_stored_and_echoed(client: Client) -> None:
    name = f"{PARENT}/cmekConfig"
    assert client.get_cmek_config(name=name) == tasks_v2.CmekConfig(name=name)
    key = f"projects/{PROJECT}/locations/us-central1/keyRings/r/cryptoKeys/k"
    updated = client.update_cmek_config(cmek_config={"name": name, "kms_key": key})
    assert updated.kms_key == key
    assert client.get_cmek_config(name=name).kms_key == key
    client.update_cmek_config(
        cmek_config={"name": name}, update_mask=field_mask_pb2.FieldMask(paths=["kms_key"])
    )
    assert client.get_cmek_config(name=name).kms_key == ""


def test_cmek_config_errors(client: Client) -> None:
    with expect_error(client, exceptions.InvalidArgument, CMEK_FORMAT):
        client.get_cmek_config(name="projects/p!/locations/l/cmekConfig")
    with expect_error(client, exceptions.InvalidArgument):
        client.update_cmek_config(cmek_config={"name": f"{PARENT}/cmekConfig", "kms_key": "k"})
    with expect_error(client, exceptions.InvalidArgument):
        client.update_cmek_config(
            cmek_config={"name": f"{PARENT}/cmekConfig"},
            update_mask=field_mask_pb2.FieldMask(paths=["name"]),
        )


# -- locations --------------------------------------------------------------------------


def test_locations(client: Client) -> None:
    other = f"projects/{PROJECT}/locations/europe-west1"
    client.create_queue(parent=other, queue={"name": queue_path("q", other)})
    response = client.list_locations(
        request=locations_pb2.ListLocationsRequest(name=f"projects/{PROJECT}")
    )
    # The default location first (gcloud takes it as the project's default), then the rest.
    assert [loc.location_id for loc in response.locations] == ["us-central1", "europe-west1"]
    location = client.get_location(request=locations_pb2.GetLocationRequest(name=other))
    assert location.name == other
    assert location.location_id == "europe-west1"
    with expect_error(client, exceptions.InvalidArgument, LOCATION_FORMAT):
        client.get_location(
            request=locations_pb2.GetLocationRequest(name="projects/p/locations/x_")
        )
    with expect_error(client, exceptions.InvalidArgument, PROJECT_FORMAT):
        client.list_locations(request=locations_pb2.ListLocationsRequest(name="projects/p!"))


def test_list_locations_pages(client: Client) -> None:
    for loc in ("a1", "b1", "c1"):
        parent = f"projects/{PROJECT}/locations/{loc}"
        client.create_queue(parent=parent, queue={"name": queue_path("q", parent)})
    first = client.list_locations(
        request=locations_pb2.ListLocationsRequest(name=f"projects/{PROJECT}", page_size=3)
    )
    assert [loc.location_id for loc in first.locations] == ["us-central1", "a1", "b1"]
    rest = client.list_locations(
        request=locations_pb2.ListLocationsRequest(
            name=f"projects/{PROJECT}", page_size=3, page_token=first.next_page_token
        )
    )
    assert [loc.location_id for loc in rest.locations] == ["c1"]
    assert rest.next_page_token == ""


# -- names the REST client cannot send -----------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.get_iam_policy(resource="queues/q"), errors.QUEUE_NAME_FORMAT),
        (
            lambda c: c.get_operation(request=operations_pb2.GetOperationRequest(name="ops/x")),
            OPERATION_FORMAT,
        ),
        (lambda c: c.get_cmek_config(name=f"{PARENT}/cmek"), CMEK_FORMAT),
        (
            lambda c: c.get_location(request=locations_pb2.GetLocationRequest(name="projects/p")),
            LOCATION_FORMAT,
        ),
        (
            lambda c: c.list_locations(request=locations_pb2.ListLocationsRequest(name="p")),
            PROJECT_FORMAT,
        ),
    ],
    ids=["iam", "operation", "cmek", "location", "locations"],
)
def test_names_off_the_url_templates_are_invalid_argument(emu: Emulator, call, message) -> None:
    # gRPC only: the REST client refuses, before sending, a name its URL cannot carry.
    client = emu.client()
    with expect_error(client, exceptions.InvalidArgument, message):
        call(client)


# -- health -----------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["", "google.cloud.tasks.v2.CloudTasks"])
def test_health_service_reports_serving(emu: Emulator, service: str) -> None:
    # gRPC only: the gRPC health service (REST's /healthz is in test_rest.py).
    with grpc.insecure_channel(emu.grpc_target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        response = stub.Check(health_pb2.HealthCheckRequest(service=service))
    assert response.status == health_pb2.HealthCheckResponse.SERVING
