"""BatchCreateTasks, BatchDeleteTasks and the Operations mixin.

Batches run synchronously, so every operation is returned already `done`; GetOperation
serves it again from the store. A repeated `request_id` returns the first operation.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulator.core import errors, limits
from emulator.service import pb, status, times
from emulator.service.service import CloudTasksService
from emulator.store.names import QueueName, TaskName, parse_operation_name

NONE_SUCCEEDED = (
    "None of the requests succeeded, refer to {metadata}.failed_requests for individual "
    "error details"
)


@dataclass(frozen=True)
class _BatchKind:
    metadata_type: Any
    response_type: Any
    results_field: str | None  # where the response lists each item's result


_CREATE = _BatchKind(pb.BatchCreateTasksMetadata, pb.BatchCreateTasksResponse, "tasks")
_DELETE = _BatchKind(pb.BatchDeleteTasksMetadata, pb.Empty, None)


class BatchService:
    def __init__(self, tasks: CloudTasksService) -> None:
        self.tasks = tasks
        self.store = tasks.store

    def batch_create_tasks(self, request: Any) -> Any:
        parent = QueueName.parse(request.parent)
        _check_count(len(request.requests), limits.MAX_BATCH_CREATE, "requests")
        self.tasks.queue_for_tasks(parent)

        def create(index: int) -> Any:
            item = pb.CreateTaskRequest()
            item.CopyFrom(request.requests[index])
            if item.parent and item.parent != str(parent):
                raise errors.InvalidArgument(
                    f"requests[{index}].parent ('{item.parent}') must be the batch's parent "
                    f"('{parent}')."
                )
            item.parent = str(parent)
            return self.tasks.create_task(item)

        return self._run(request, parent, len(request.requests), create, _CREATE)

    def batch_delete_tasks(self, request: Any) -> Any:
        parent = QueueName.parse(request.parent)
        _check_count(len(request.names), limits.MAX_BATCH_DELETE, "names")
        self.store.get_queue(parent)

        def delete(index: int) -> None:
            name = TaskName.parse(request.names[index])
            if name.queue_name != parent:
                raise errors.task_in_other_queue(str(parent), str(name.queue_name))
            self.store.delete_task(name)

        return self._run(request, parent, len(request.names), delete, _DELETE)

    def _run(
        self,
        request: Any,
        parent: QueueName,
        count: int,
        action: Callable[[int], Any],
        kind: _BatchKind,
    ) -> Any:
        earlier = self.store.operations.for_request(request.request_id)
        if request.request_id and earlier is not None:
            return pb.Operation.FromString(earlier)
        metadata_type = kind.metadata_type
        metadata = metadata_type(start_time=times.timestamp(self.store.clock.now()))
        response = kind.response_type()
        for index in range(count):
            try:
                result = action(index)
            except errors.ApiError as error:
                metadata.failed_requests[index].CopyFrom(status.to_rpc_status(error))
            else:
                if kind.results_field:
                    getattr(response, kind.results_field).append(result)
        metadata.end_time.CopyFrom(times.timestamp(self.store.clock.now()))
        states = metadata_type.State
        operation = pb.Operation(
            name=f"{parent.parent}/operations/{os.urandom(16).hex()}", done=True
        )
        if count and len(metadata.failed_requests) == count:
            metadata.state = states.Value("FAILED")
            operation.error.code = errors.Code.ABORTED
            operation.error.message = NONE_SUCCEEDED.format(metadata=metadata_type.DESCRIPTOR.name)
        else:
            metadata.state = states.Value(
                "PARTIALLY_SUCCEEDED" if metadata.failed_requests else "SUCCEEDED"
            )
            operation.response.Pack(response)
        operation.metadata.Pack(metadata)
        self.store.operations.put(operation.name, operation.SerializeToString(), request.request_id)
        return operation

    def get_operation(self, request: Any) -> Any:
        parse_operation_name(request.name)
        stored = self.store.operations.find(request.name)
        if stored is None:
            raise errors.NotFound(errors.ENTITY_NOT_FOUND)
        return pb.Operation.FromString(stored)


def _check_count(count: int, maximum: int, field: str) -> None:
    if count == 0:
        raise errors.InvalidArgument(f"{field} is required: give at least one.")
    if count > maximum:
        raise errors.InvalidArgument(f"At most {maximum} {field} per batch, got {count}.")
