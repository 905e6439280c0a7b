"""The async client over grpc.aio: concurrent calls against the one store (gRPC only: the
async client has no REST transport here)."""

from __future__ import annotations

import asyncio

import pytest
from google.api_core import exceptions
from google.cloud import tasks_v2

from emulator.core import errors

from support import PARENT, http_task, queue_path

AsyncClient = tasks_v2.CloudTasksAsyncClient


async def test_async_client_runs_queue_and_task_rpcs(async_client: AsyncClient) -> None:
    queue = await async_client.create_queue(parent=PARENT, queue={"name": queue_path("aq")})
    assert queue.rate_limits.max_burst_size == 100
    created = await asyncio.gather(
        *(async_client.create_task(parent=queue.name, task=http_task()) for _ in range(64))
    )
    assert len({t.name for t in created}) == 64
    pager = await async_client.list_tasks(request={"parent": queue.name, "page_size": 10})
    listed = [task.name async for task in pager]
    # The calls raced, so the server's creation order is not the submission order.
    assert sorted(listed) == sorted(t.name for t in created)
    paused = await async_client.pause_queue(name=queue.name)
    assert paused.state == tasks_v2.Queue.State.PAUSED
    await async_client.delete_task(name=created[0].name)
    with pytest.raises(exceptions.NotFound) as e:
        await async_client.get_task(name=created[0].name)
    assert e.value.message == errors.TASK_TOMBSTONED


async def test_async_client_sees_concurrent_creates_of_one_name(async_client: AsyncClient) -> None:
    await async_client.create_queue(parent=PARENT, queue={"name": queue_path("race")})
    name = f"{queue_path('race')}/tasks/only-once"
    results = await asyncio.gather(
        *(
            async_client.create_task(parent=queue_path("race"), task=http_task(name=name))
            for _ in range(10)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(r, tasks_v2.Task) for r in results) == 1
    assert sum(isinstance(r, exceptions.AlreadyExists) for r in results) == 9


async def test_async_batch_operation(async_client: AsyncClient) -> None:
    queue = await async_client.create_queue(parent=PARENT, queue={"name": queue_path("ab")})
    operation = await async_client.batch_create_tasks(
        parent=queue.name, requests=[{"task": http_task()} for _ in range(5)]
    )
    result = await operation.result()
    assert len(result.tasks) == 5
