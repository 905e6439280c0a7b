"""The CloudTasks service: one method per RPC, protobuf request in, protobuf response out.

Transport-neutral: the gRPC handlers and the REST routes call the same methods, so
both surfaces share one set of rules. Each method validates names, converts the
request into records, lets the store act, and converts the result back.
"""

from __future__ import annotations

import base64
import binascii
import copy
import logging
import re
from typing import Any

from google.protobuf import field_mask_pb2

from emulator.core import errors, limits
from emulator.service import convert, filters, paging, pb
from emulator.store import Store, headers, validation
from emulator.store.names import LocationName, QueueName, TaskName, cmek_name, parse_cmek_name
from emulator.store.records import Queue, QueueState, View

log = logging.getLogger("emulator")

_OUTPUT_ONLY_QUEUE_PATHS = {"name", "state", "purge_time", "rate_limits.max_burst_size"}


_VIEWS = {view.value: view for view in View}


def _view(value: int) -> View:
    view = _VIEWS.get(value)
    if view is None:
        raise errors.InvalidArgument(f"Invalid response_view {value}.")
    return view


class CloudTasksService:
    def __init__(self, store: Store, *, auto_create: Queue | None = None) -> None:
        """`auto_create`: with --auto-create-queues, the queue a task's missing queue is
        created as (its name is replaced; its state is the new queue's state); None: a
        task in a missing queue is NOT_FOUND, as in production."""
        self.store = store
        self.auto_create = auto_create

    # -- queues ----------------------------------------------------------------------

    def list_queues(self, request: Any) -> Any:
        parent = LocationName.parse(request.parent)
        matches = filters.parse(request.filter)
        queues, next_token = paging.paginate(
            [q for q in self.store.list_queues(parent) if matches(q)],
            lambda q: str(q.name),
            token=request.page_token,
            filter_=request.filter,
            size=paging.page_size(request.page_size, limits.MAX_QUEUES_PAGE_SIZE),
            now=self.store.clock.now(),
        )
        return pb.ListQueuesResponse(
            queues=[convert.queue_to_pb(q) for q in queues], next_page_token=next_token
        )

    def get_queue(self, request: Any) -> Any:
        return convert.queue_to_pb(self.store.get_queue(QueueName.parse(request.name)))

    def create_queue(self, request: Any) -> Any:
        parent = LocationName.parse(request.parent)
        if not request.HasField("queue"):
            raise errors.InvalidArgument("CreateQueueRequest.queue is required.")
        name = QueueName.parse(request.queue.name)
        if name.parent != parent:
            raise errors.InvalidArgument(
                f"The queue name ('{name}') must be under the parent from the request ('{parent}')."
            )
        queue = convert.queue_from_pb(request.queue, name)
        validation.validate_queue(queue)
        return convert.queue_to_pb(self.store.create_queue(queue))

    def update_queue(self, request: Any) -> Any:
        if not request.HasField("queue"):
            raise errors.InvalidArgument("UpdateQueueRequest.queue is required.")
        name = QueueName.parse(request.queue.name)
        paths = set(request.update_mask.paths) - _OUTPUT_ONLY_QUEUE_PATHS
        mask = field_mask_pb2.FieldMask(paths=sorted(paths))
        if not mask.IsValidForDescriptor(pb.Queue.DESCRIPTOR):
            unknown = [p for p in sorted(paths) if not _is_queue_path(p)]
            raise errors.InvalidArgument(
                f"update_mask has paths that are not fields of Queue: {', '.join(unknown)}."
            )
        existing = self.store.find_queue(name)
        if not request.update_mask.paths:
            # Empty mask: every mutable field is replaced by the request's value.
            merged, keep_zero = request.queue, False
        else:
            merged = convert.queue_to_pb(existing) if existing else pb.Queue()
            mask.MergeMessage(
                request.queue, merged, replace_message_field=True, replace_repeated_field=True
            )
            # A masked max_doublings is explicit, and one kept from the existing queue is
            # already resolved: in both cases 0 means 0, not "use the default".
            keep_zero = existing is not None or _covers(paths, "retry_config.max_doublings")
        queue = convert.queue_from_pb(merged, name, keep_zero_doublings=keep_zero)
        validation.validate_queue(queue)
        return convert.queue_to_pb(self.store.put_queue(queue))

    def ensure_queue(self, name: QueueName) -> None:
        """The queue, created with every default if it does not exist (the Firebase route:
        its SDKs never create queues)."""
        if self.store.find_queue(name) is None:
            self.store.create_queue(Queue(name=name))

    def queue_for_tasks(self, name: QueueName) -> Queue:
        """The queue new tasks go to: NOT_FOUND if it does not exist, unless
        --auto-create-queues is on; then it is created from the template (a name deleted
        too recently is refused as CreateQueue refuses it: FAILED_PRECONDITION)."""
        queue = self.store.find_queue(name)
        if queue is not None or self.auto_create is None:
            return queue or self.store.get_queue(name)
        queue = copy.deepcopy(self.auto_create)
        queue.name, state, queue.state = name, queue.state, QueueState.RUNNING
        try:
            self.store.create_queue(queue)
        except errors.FailedPrecondition:
            raise errors.FailedPrecondition(
                f"Queue {name.queue} does not exist and cannot be created on first use "
                "(--auto-create-queues): a queue with this name existed too recently "
                "(--queue-tombstone-ttl)."
            ) from None
        if state != QueueState.RUNNING:
            self.store.set_queue_state(name, state)
        log.info(
            "created queue %s on first use (--auto-create-queues)",
            name,
            extra={"fields": {"queue": str(name)}},
        )
        return self.store.get_queue(name)

    def delete_queue(self, request: Any) -> Any:
        self.store.delete_queue(QueueName.parse(request.name))
        return pb.Empty()

    def purge_queue(self, request: Any) -> Any:
        return convert.queue_to_pb(self.store.purge_queue(QueueName.parse(request.name)))

    def pause_queue(self, request: Any) -> Any:
        name = QueueName.parse(request.name)
        return convert.queue_to_pb(self.store.set_queue_state(name, QueueState.PAUSED))

    def resume_queue(self, request: Any) -> Any:
        name = QueueName.parse(request.name)
        return convert.queue_to_pb(self.store.set_queue_state(name, QueueState.RUNNING))

    # -- tasks -----------------------------------------------------------------------

    def list_tasks(self, request: Any) -> Any:
        parent = QueueName.parse(request.parent)
        view = _view(request.response_view)
        now = self.store.clock.now()
        tasks, next_token = paging.paginate(
            self.store.list_tasks(parent),
            lambda t: t.seq,
            token=request.page_token,
            filter_="",
            size=paging.page_size(request.page_size, limits.MAX_TASKS_PAGE_SIZE),
            now=now,
            key_type=int,
        )
        messages: list[Any] = []
        size = 0
        for index, task in enumerate(tasks):  # a page ends early rather than outgrow a message
            message = convert.task_to_pb(task, view)
            size += message.ByteSize()
            if messages and size > limits.MAX_PAGE_BYTES:
                next_token = paging.token_after(tasks[index - 1].seq, filter_="", now=now)
                break
            messages.append(message)
        return pb.ListTasksResponse(tasks=messages, next_page_token=next_token)

    def get_task(self, request: Any) -> Any:
        view = _view(request.response_view)
        return convert.task_to_pb(self.store.get_task(TaskName.parse(request.name)), view)

    def create_task(self, request: Any) -> Any:
        parent = QueueName.parse(request.parent)
        view = _view(request.response_view)
        if not request.HasField("task"):
            raise errors.InvalidArgument("CreateTaskRequest.task is required.")
        message = request.task
        name = TaskName.parse(message.name) if message.name else None
        if name is not None and name.queue_name != parent:
            raise errors.task_in_other_queue(str(parent), str(name.queue_name))
        queue = self.queue_for_tasks(parent)
        if message.WhichOneof("message_type") is None:
            raise errors.InvalidArgument(
                "Task.message_type is required: set exactly one of http_request or "
                "app_engine_http_request."
            )
        now = self.store.clock.now()
        name = name or TaskName(parent, self.store.new_task_id(parent))
        task = convert.task_from_pb(message, name, now=now, queue_retry=queue.retry_config)
        headers.normalize(task.request)
        validation.validate_task(task, queue, now)
        if convert.size_bound(task) > limits.MAX_TASK_SIZE:  # near the limit: measure it
            size = convert.task_to_pb(task, View.FULL).ByteSize()
            if size > limits.MAX_TASK_SIZE:
                raise errors.InvalidArgument(
                    f"Task size is {size} bytes, more than the maximum of {limits.MAX_TASK_SIZE}."
                )
        self.store.create_task(task, now)
        return convert.task_to_pb(task, view)

    def buffer_task(self, request: dict[str, Any]) -> Any:
        """BufferTask (REST only): an HTTP task whose URL comes from the queue's
        uri_override, with the request's body and content type; returns {"task": ...}."""
        parent = QueueName.parse(request["queue"])
        queue = self.store.get_queue(parent)
        target = queue.http_target
        if target is None or target.uri_override is None or not target.uri_override.host:
            raise errors.FailedPrecondition(
                "BufferTask needs a queue with queue-level routing: set "
                "http_target.uri_override.host on the queue."
            )
        body = request.get("body") or {}
        if not isinstance(body, dict):
            raise errors.InvalidArgument('"body" must be an HttpBody object.')
        try:
            data = base64.b64decode(body.get("data", ""), validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise errors.InvalidArgument('"body.data" must be base64.') from None
        create = pb.CreateTaskRequest(parent=str(parent))
        if request.get("task_id"):
            create.task.name = f"{parent}/tasks/{request['task_id']}"
        create.task.http_request.body = data
        if body.get("contentType"):
            create.task.http_request.headers["Content-Type"] = str(body["contentType"])
        task = self.create_task(create)
        return _BufferTaskResponse(task)

    def delete_task(self, request: Any) -> Any:
        self.store.delete_task(TaskName.parse(request.name))
        return pb.Empty()

    def run_task(self, request: Any) -> Any:
        view = _view(request.response_view)
        # The dispatcher, told by the store, has dispatched it when this returns: the task
        # is answered as it looks right after the dispatch, before the target answers.
        return convert.task_to_pb(self.store.run_task(TaskName.parse(request.name)), view)

    # -- CMEK and locations ------------------------------------------------------------

    def get_cmek_config(self, request: Any) -> Any:
        location = parse_cmek_name(request.name)
        return pb.CmekConfig(name=cmek_name(location), kms_key=self.store.cmek_keys.get(location))

    def update_cmek_config(self, request: Any) -> Any:
        if not request.HasField("cmek_config"):
            raise errors.InvalidArgument("UpdateCmekConfigRequest.cmek_config is required.")
        location = parse_cmek_name(request.cmek_config.name)
        unknown = [p for p in request.update_mask.paths if p != "kms_key"]
        if unknown:
            raise errors.InvalidArgument(
                f"update_mask has paths that are not mutable fields of CmekConfig: "
                f"{', '.join(unknown)}."
            )
        key = request.cmek_config.kms_key
        if key and not _KMS_KEY.fullmatch(key):
            raise errors.InvalidArgument(
                'kms_key must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/'
                'keyRings/<KEY_RING>/cryptoKeys/<KEY>".'
            )
        self.store.cmek_keys.set(location, key)  # an empty key turns CMEK off
        return pb.CmekConfig(name=cmek_name(location), kms_key=key)


class _BufferTaskResponse:
    """{"task": Task} for the REST layer, which renders messages with MessageToDict."""

    def __init__(self, task: Any) -> None:
        self.task = task


def _is_queue_path(path: str) -> bool:
    return field_mask_pb2.FieldMask(paths=[path]).IsValidForDescriptor(pb.Queue.DESCRIPTOR)


def _covers(paths: set[str], field: str) -> bool:
    """Whether a mask with `paths` names `field` itself or one of its parents."""
    parts = field.split(".")
    return any(".".join(parts[:i]) in paths for i in range(1, len(parts) + 1))


_KMS_KEY = re.compile(r"projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+")
