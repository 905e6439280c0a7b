"""v2beta3 through its real clients (gRPC and REST), sharing the store with v2 (whose
client runs over both transports)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import tasks_v2, tasks_v2beta3
from google.protobuf import duration_pb2, field_mask_pb2
from test_gcloud import Gcloud, gcloud  # noqa: F401  (the fixture)

from emulator import Emulator
from emulator.core import errors

from support import PARENT, beta_client, expect_error, queue_path

Beta = tasks_v2beta3.CloudTasksClient


@pytest.fixture
def beta(emu: Emulator) -> Iterator[Beta]:
    with beta_client(emu) as client:
        yield client


@pytest.fixture
def beta_rest(emu: Emulator) -> Iterator[Beta]:
    client = tasks_v2beta3.CloudTasksClient(
        transport="rest",
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=emu.http_url),
    )
    yield client
    client.transport.close()


def test_v2beta3_queue_fields(beta: Beta, client: tasks_v2.CloudTasksClient) -> None:
    queue = beta.create_queue(
        parent=PARENT,
        queue={
            "name": queue_path("beta"),
            "task_ttl": duration_pb2.Duration(seconds=15 * 86400),
            "tombstone_ttl": duration_pb2.Duration(seconds=7200),
            "app_engine_http_queue": {"app_engine_routing_override": {"service": "worker"}},
            "rate_limits": {"max_dispatches_per_second": 3},
        },
    )
    assert queue.task_ttl == timedelta(days=15)
    assert queue.tombstone_ttl == timedelta(hours=2)
    assert queue.type_ == tasks_v2beta3.Queue.Type.PUSH
    assert queue.app_engine_http_queue.app_engine_routing_override.service == "worker"
    assert queue.rate_limits.max_burst_size == 3
    assert "stats" not in queue
    # The same queue through v2: the routing override at its v2 place.
    assert client.get_queue(name=queue.name).app_engine_routing_override.service == "worker"
    updated = beta.update_queue(
        queue={"name": queue.name, "task_ttl": duration_pb2.Duration(seconds=20 * 86400)},
        update_mask=field_mask_pb2.FieldMask(paths=["task_ttl"]),
    )
    assert updated.task_ttl == timedelta(days=20)
    assert updated.tombstone_ttl == timedelta(hours=2)
    assert updated.rate_limits.max_dispatches_per_second == 3
    defaults = beta.create_queue(parent=PARENT, queue={"name": queue_path("plain")})
    assert defaults.task_ttl == timedelta(days=31)
    assert defaults.tombstone_ttl == timedelta(hours=1)


def test_v2beta3_stats_only_with_read_mask(beta: Beta, client: tasks_v2.CloudTasksClient) -> None:
    queue = beta.create_queue(parent=PARENT, queue={"name": queue_path("stats")})
    beta.pause_queue(name=queue.name)
    for _ in range(3):
        client.create_task(parent=queue.name, task={"http_request": {"url": "http://127.0.0.1:9/"}})
    plain = beta.get_queue(name=queue.name)
    assert "stats" not in plain
    with_stats = beta.get_queue(
        request={"name": queue.name, "read_mask": field_mask_pb2.FieldMask(paths=["stats"])}
    )
    assert with_stats.stats.tasks_count == 3
    assert with_stats.stats.concurrent_dispatches_count == 0
    assert "oldest_estimated_arrival_time" in with_stats.stats
    listed = beta.list_queues(
        request={"parent": PARENT, "read_mask": field_mask_pb2.FieldMask(paths=["stats"])}
    )
    assert [q.stats.tasks_count for q in listed] == [3]


@pytest.mark.parametrize(
    ("queue_fields", "fragment"),
    [
        ({"task_ttl": duration_pb2.Duration(seconds=5 * 86400)}, "task_ttl"),
        ({"tombstone_ttl": duration_pb2.Duration(seconds=60)}, "tombstone_ttl"),
        ({"type_": tasks_v2beta3.Queue.Type.PULL}, "Pull queues"),
    ],
)
def test_v2beta3_queue_limits(beta: Beta, queue_fields: dict, fragment: str) -> None:
    with pytest.raises(exceptions.InvalidArgument) as e:
        beta.create_queue(parent=PARENT, queue={"name": queue_path("lim"), **queue_fields})
    assert fragment in e.value.message
    with pytest.raises(exceptions.NotFound):
        beta.get_queue(name=queue_path("lim"))


def test_v2beta3_tasks_share_the_store(beta: Beta, client: tasks_v2.CloudTasksClient) -> None:
    queue = beta.create_queue(parent=PARENT, queue={"name": queue_path("shared")})
    beta.pause_queue(name=queue.name)
    created = beta.create_task(
        request={
            "parent": queue.name,
            "task": {"http_request": {"url": "http://127.0.0.1:9/", "body": b"b3"}},
            "response_view": tasks_v2beta3.Task.View.FULL,
        }
    )
    assert created.http_request.body == b"b3"
    assert client.get_task(name=created.name).http_request.url == "http://127.0.0.1:9/"
    v2_task = client.create_task(parent=queue.name, task={"app_engine_http_request": {}})
    assert beta.get_task(name=v2_task.name).app_engine_http_request.relative_uri == "/"
    assert len(list(beta.list_tasks(parent=queue.name))) == 2
    operation = beta.batch_create_tasks(
        parent=queue.name, requests=[{"task": {"http_request": {"url": "http://127.0.0.1:9/"}}}]
    )
    assert len(operation.result().tasks) == 1
    with pytest.raises(exceptions.InvalidArgument) as e:
        beta.create_task(parent=queue.name, task={"pull_message": {"payload": b"x"}})
    assert "pull" in e.value.message


def test_v2beta3_tombstone_ttl_reserves_names(
    beta: Beta, client: tasks_v2.CloudTasksClient, emu: Emulator
) -> None:
    queue = beta.create_queue(
        parent=PARENT,
        queue={"name": queue_path("tomb"), "tombstone_ttl": duration_pb2.Duration(seconds=7200)},
    )
    name = f"{queue.name}/tasks/once"
    task = {"name": name, "http_request": {"url": "http://127.0.0.1:9/"}}
    client.pause_queue(name=queue.name)
    client.create_task(parent=queue.name, task=task)
    client.delete_task(name=name)
    emu.advance(3600 + 60)
    with expect_error(client, exceptions.AlreadyExists, errors.ENTITY_EXISTS):
        client.create_task(parent=queue.name, task=task)
    emu.advance(3600)
    assert client.create_task(parent=queue.name, task=task).name == name


def test_v2beta3_over_rest(beta_rest: Beta) -> None:
    queue = beta_rest.create_queue(
        parent=PARENT,
        queue={"name": queue_path("br"), "tombstone_ttl": duration_pb2.Duration(seconds=7200)},
    )
    assert queue.tombstone_ttl == timedelta(hours=2)
    assert queue.type_ == tasks_v2beta3.Queue.Type.PUSH
    beta_rest.pause_queue(name=queue.name)
    task = beta_rest.create_task(
        parent=queue.name, task={"http_request": {"url": "http://127.0.0.1:9/"}}
    )
    assert beta_rest.get_task(name=task.name).name == task.name
    fetched = beta_rest.get_queue(
        request={"name": queue.name, "read_mask": field_mask_pb2.FieldMask(paths=["stats"])}
    )
    assert fetched.stats.tasks_count == 1


def test_gcloud_beta_uses_v2beta3(gcloud: Gcloud) -> None:  # noqa: F811
    gcloud("beta", "tasks", "queues", "create", "betaq", "--max-attempts=4")
    described = gcloud("beta", "tasks", "queues", "describe", "betaq")
    assert described["type"] == "PUSH"
    assert described["tombstoneTtl"] == "3600s"
    assert described["retryConfig"]["maxAttempts"] == 4
