"""google.cloud.tasks.v2beta3: the same store and rules, seen through v2beta3 messages.

Each v2beta3 request is translated to its v2 twin through proto3 JSON (the shapes are
the same but for a few renamed or extra fields), handled by the v2 service, and the
answer translated back. What exists only in v2beta3 is handled here:
  - Queue.app_engine_http_queue.app_engine_routing_override <-> v2's top-level field;
  - Queue.task_ttl and tombstone_ttl (stored per queue; tombstone_ttl reserves the
    names of the queue's finished tasks), Queue.type (always PUSH);
  - Queue.stats, returned only when `read_mask` asks for it;
  - Task.pull_message: pull queues are not supported (INVALID_ARGUMENT).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from google.cloud.tasks_v2beta3.types import cloudtasks as beta_cloudtasks
from google.cloud.tasks_v2beta3.types import cmek_config as beta_cmek
from google.cloud.tasks_v2beta3.types import queue as beta_queue
from google.cloud.tasks_v2beta3.types import task as beta_task
from google.protobuf import field_mask_pb2, json_format

from emulator.core import errors
from emulator.core.durations import format_duration
from emulator.dispatch.view import DeliveryView
from emulator.service import pb, times
from emulator.store import Store
from emulator.store.names import QueueName
from emulator.store.records import Queue

TASK_TTL_RANGE = (timedelta(days=10), timedelta(days=3653))
TOMBSTONE_TTL_RANGE = (timedelta(hours=1), timedelta(days=9))
DEFAULT_TASK_TTL = timedelta(days=31)
_EXTRA_FIELDS = ("taskTtl", "tombstoneTtl", "type", "stats")
_EXTRA_PATHS = {"task_ttl", "tombstone_ttl", "type", "type_", "stats"}
_AE_PATH = "app_engine_http_queue.app_engine_routing_override"

BetaQueue: Any = beta_queue.Queue.pb()
BetaTask: Any = beta_task.Task.pb()

BetaQueueStats: Any = beta_queue.QueueStats.pb()


def request_types() -> dict[str, Any]:
    """v2beta3 request classes by RPC name."""
    return {
        name: getattr(beta_cloudtasks, f"{name}Request").pb()
        for name in (
            "ListQueues", "GetQueue", "CreateQueue", "UpdateQueue", "DeleteQueue",
            "PurgeQueue", "PauseQueue", "ResumeQueue", "ListTasks", "GetTask", "CreateTask",
            "DeleteTask", "RunTask", "BatchCreateTasks", "BatchDeleteTasks", "GetCmekConfig",
            "UpdateCmekConfig",
        )
    }  # fmt: skip


def queue_stats(store: Store, delivery: DeliveryView, name: QueueName) -> dict[str, Any]:
    """Queue.stats as proto3 JSON, built from the QueueStats message. The emulator's
    choices: attempts answered in the last minute, the configured rate as the effective
    one unless the queue is throttled (see docs/behaviour.md, "Behaviour notes")."""
    enforced = delivery.enforced_rate(name)
    tasks = store.list_tasks(name)
    minute_ago = store.clock.now() - timedelta(minutes=1)
    stats = BetaQueueStats(
        tasks_count=len(tasks),
        executed_last_minute_count=store.attempts.settled_since(str(name), minute_ago),
        concurrent_dispatches_count=delivery.in_flight_count(name),
        effective_execution_rate=store.get_queue(name).rate_limits.max_dispatches_per_second
        if enforced is None
        else enforced,
    )
    if tasks:
        stats.oldest_estimated_arrival_time.CopyFrom(
            times.timestamp(min(t.schedule_time for t in tasks))
        )
    stats_json: dict[str, Any] = json_format.MessageToDict(stats)
    return stats_json


def beta_fields(
    queue: Queue | None, beta: dict[str, Any], paths: set[str] | None
) -> tuple[timedelta | None, timedelta | None]:
    """The queue's task_ttl and tombstone_ttl after this request (both are replaced when
    `paths` is None), validated against the v2beta3 ranges; None means the default."""
    values = {
        "task_ttl": queue.task_ttl if queue else None,
        "tombstone_ttl": queue.tombstone_ttl if queue else None,
    }
    for path, field, (low, high) in (
        ("task_ttl", "taskTtl", TASK_TTL_RANGE),
        ("tombstone_ttl", "tombstoneTtl", TOMBSTONE_TTL_RANGE),
    ):
        if paths is not None and path not in paths:
            continue
        if field not in beta:
            values[path] = None
            continue
        value = times.to_timedelta(_duration_pb(beta[field], path))
        if not low <= value <= high:
            raise errors.InvalidArgument(
                f"Queue.{path} must be between {format_duration(low)} and {format_duration(high)}, "
                f"got {beta[field]}.",
                field=f"queue.{path}",
            )
        values[path] = timedelta(seconds=int(value.total_seconds()))
    if beta.get("type") == "PULL":
        raise errors.InvalidArgument("Pull queues are not supported by the emulator.")
    return values["task_ttl"], values["tombstone_ttl"]


def _duration_pb(text: str, path: str) -> Any:
    duration = pb.Duration()
    try:
        duration.FromJsonString(text)
    except ValueError:
        raise errors.InvalidArgument(f"Queue.{path} is not a duration: {text}") from None
    return duration


class V2beta3:
    """Translates v2beta3 calls to the v2 service methods `methods` (by RPC name)."""

    def __init__(
        self,
        v2_table: dict[str, tuple[Any, Callable[[Any], Any]]],
        store: Store,
        delivery: DeliveryView,
    ) -> None:
        self.v2 = {rpc: method for rpc, (_, method) in v2_table.items()}
        self.v2_types = {rpc: request_type for rpc, (request_type, _) in v2_table.items()}
        self.store = store
        self.delivery = delivery

    # -- translation ---------------------------------------------------------------------

    def _queue_to_v2(self, queue: dict[str, Any]) -> dict[str, Any]:
        queue = dict(queue)
        ae = queue.pop("appEngineHttpQueue", None)
        if ae and "appEngineRoutingOverride" in ae:
            queue["appEngineRoutingOverride"] = ae["appEngineRoutingOverride"]
        for field in _EXTRA_FIELDS:
            queue.pop(field, None)
        return queue

    def _queue_from_v2(self, queue: dict[str, Any], with_stats: bool) -> dict[str, Any]:
        queue = dict(queue)
        if "appEngineRoutingOverride" in queue:
            override = queue.pop("appEngineRoutingOverride")
            queue["appEngineHttpQueue"] = {"appEngineRoutingOverride": override}
        name = QueueName.parse(queue["name"])
        task_ttl = self.store.get_queue(name).task_ttl
        queue["taskTtl"] = format_duration(task_ttl or DEFAULT_TASK_TTL)
        queue["tombstoneTtl"] = format_duration(self.store.task_tombstone_ttl_for(name))
        queue["type"] = "PUSH"
        if with_stats:
            queue["stats"] = queue_stats(self.store, self.delivery, name)
        return queue

    @staticmethod
    def _task_to_v2(task: dict[str, Any]) -> dict[str, Any]:
        if "pullMessage" in task:
            raise errors.InvalidArgument(
                "Task.pull_message is for pull queues, which the emulator does not support."
            )
        return task

    def _to_v2(self, rpc: str, request: Any) -> tuple[Any, bool]:
        """The v2 request for a v2beta3 one, and whether stats were asked for."""
        document = json_format.MessageToDict(request)
        paths = set(request.read_mask.paths) if hasattr(request, "read_mask") else set()
        document.pop("readMask", None)
        if "queue" in document:
            document["queue"] = self._queue_to_v2(document["queue"])
        if "task" in document:
            document["task"] = self._task_to_v2(document["task"])
        for item in document.get("requests", []):
            if "task" in item:
                item["task"] = self._task_to_v2(item["task"])
        if "updateMask" in document:
            mask = [p for p in request.update_mask.paths if p not in _EXTRA_PATHS]
            mask = ["app_engine_routing_override" if p == _AE_PATH else p for p in mask]
            document["updateMask"] = field_mask_pb2.FieldMask(paths=mask).ToJsonString()
            if not mask:
                document.pop("updateMask")
        v2_type = self.v2_types[rpc]
        try:
            return json_format.ParseDict(document, v2_type()), "stats" in paths
        except json_format.ParseError as error:
            raise errors.InvalidArgument(str(error)) from None

    def _from_v2(self, response: Any, response_type: Any, with_stats: bool) -> Any:
        document = json_format.MessageToDict(response)
        if "name" in document and "rateLimits" in document:  # a Queue
            document = self._queue_from_v2(document, with_stats)
        if "queues" in document:
            document["queues"] = [self._queue_from_v2(q, with_stats) for q in document["queues"]]
        return json_format.ParseDict(document, response_type(), ignore_unknown_fields=True)

    # -- the RPCs -----------------------------------------------------------------------

    def methods(self, v2_table: dict[str, tuple[Any, Callable[[Any], Any]]]) -> dict[str, Any]:
        """The v2beta3 method table: translated CloudTasks RPCs; IAM ones as in v2."""
        beta_types = request_types()
        queue_rpcs = ("GetQueue", "CreateQueue", "UpdateQueue", "PurgeQueue", "PauseQueue")
        responses: dict[str, Any] = {rpc: BetaQueue for rpc in (*queue_rpcs, "ResumeQueue")}
        responses |= {rpc: BetaTask for rpc in ("GetTask", "CreateTask", "RunTask")}
        responses |= {
            "ListQueues": beta_cloudtasks.ListQueuesResponse.pb(),
            "ListTasks": beta_cloudtasks.ListTasksResponse.pb(),
            "GetCmekConfig": beta_cmek.CmekConfig.pb(),
            "UpdateCmekConfig": beta_cmek.CmekConfig.pb(),
        }
        table = {}
        for rpc, (request_type, method) in v2_table.items():
            if rpc in beta_types:
                table[rpc] = (beta_types[rpc], self.call(rpc, responses.get(rpc)))
            else:
                table[rpc] = (request_type, method)
        return table

    def call(self, rpc: str, response_type: Any) -> Callable[[Any], Any]:
        def handle(request: Any) -> Any:
            v2_request, with_stats = self._to_v2(rpc, request)
            if rpc in ("CreateQueue", "UpdateQueue"):
                name = QueueName.parse(request.queue.name)
                paths = set(request.update_mask.paths) if rpc == "UpdateQueue" else None
                existing = self.store.find_queue(name)
                if existing is None:
                    paths = None  # a new queue takes every field
                document = json_format.MessageToDict(request.queue)
                task_ttl, tombstone_ttl = beta_fields(existing, document, paths)
                if paths and not paths - _EXTRA_PATHS:
                    # Only v2beta3 fields change; an empty v2 mask would replace everything.
                    response = self.v2["GetQueue"](pb.GetQueueRequest(name=str(name)))
                else:
                    response = self.v2[rpc](v2_request)
                self.store.set_beta_fields(name, task_ttl=task_ttl, tombstone_ttl=tombstone_ttl)
            else:
                response = self.v2[rpc](v2_request)
            if rpc.startswith("Batch"):
                return self._operation_from_v2(response)
            if response_type is None:
                return response
            return self._from_v2(response, response_type, with_stats)

        return handle

    def _operation_from_v2(self, operation: Any) -> Any:
        """Re-pack a batch operation's response and metadata as v2beta3 types."""
        converted = pb.Operation()
        converted.CopyFrom(operation)
        for field in ("response", "metadata"):
            packed = getattr(operation, field)
            if not packed.type_url or packed.type_url.endswith("google.protobuf.Empty"):
                continue
            kind = packed.type_url.rsplit(".", 1)[1]
            v2_message = getattr(pb, kind)()
            packed.Unpack(v2_message)
            beta_type = getattr(beta_cloudtasks, kind).pb()
            document = json_format.MessageToDict(v2_message)
            beta_message = json_format.ParseDict(document, beta_type(), ignore_unknown_fields=True)
            getattr(converted, field).Pack(beta_message)
        return converted
