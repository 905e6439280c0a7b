"""The gRPC surface: CloudTasks, the Locations and Operations mixins, and health.

The installed client package ships message types but no service descriptor, so the
method table is built here from (method name, request class, service method). Requests
arrive as raw bytes and are parsed inside the handler, so a malformed message becomes
INVALID_ARGUMENT rather than gRPC's generic deserialization failure.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

import grpc
from google.cloud.location import locations_pb2
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from emulator.core import errors
from emulator.grpc.status import to_grpc_status
from emulator.service import pb
from emulator.service.batch import BatchService
from emulator.service.iam import IamService
from emulator.service.locations import LocationsService
from emulator.service.service import CloudTasksService

log = logging.getLogger("emulator.grpc")
health_aio: Any = health.aio  # type: ignore[attr-defined]  # untyped submodule

CLOUD_TASKS = "google.cloud.tasks.v2.CloudTasks"
CLOUD_TASKS_V2BETA3 = "google.cloud.tasks.v2beta3.CloudTasks"
LOCATIONS = "google.cloud.location.Locations"
OPERATIONS = "google.longrunning.Operations"

ServiceMethod = Callable[[Any], Any]


def unary_handler(
    rpc: str, request_type: Any, method: ServiceMethod
) -> grpc.RpcMethodHandler[bytes, bytes]:
    async def handle(raw: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        failure: errors.ApiError
        try:
            request = request_type.FromString(raw)
        except DecodeError:
            failure = errors.InvalidArgument(
                f"The request could not be parsed as a {request_type.DESCRIPTOR.full_name}."
            )
        else:
            try:
                response = method(request)
                if inspect.isawaitable(response):
                    response = await response
                return bytes(response.SerializeToString())
            except errors.ApiError as error:
                failure = error
            except Exception:
                log.exception("%s failed unexpectedly", rpc)
                failure = errors.Internal(f"{rpc} failed inside the emulator; see its log.")
        # abort_with_status is missing from the grpc stubs' aio context.
        abort: Any = context
        await abort.abort_with_status(to_grpc_status(failure))
        raise AssertionError("abort_with_status returned")  # pragma: no cover

    return grpc.unary_unary_rpc_method_handler(handle)


MethodTable = dict[str, tuple[Any, ServiceMethod]]  # RPC name -> (request type, method)


def cloud_tasks_methods(
    tasks: CloudTasksService, iam: IamService, batch: BatchService
) -> MethodTable:
    """The v2 CloudTasks RPCs; REST routes and the v2beta3 bridge use the same table."""
    return {
        "ListQueues": (pb.ListQueuesRequest, tasks.list_queues),
        "GetQueue": (pb.GetQueueRequest, tasks.get_queue),
        "CreateQueue": (pb.CreateQueueRequest, tasks.create_queue),
        "UpdateQueue": (pb.UpdateQueueRequest, tasks.update_queue),
        "DeleteQueue": (pb.DeleteQueueRequest, tasks.delete_queue),
        "PurgeQueue": (pb.PurgeQueueRequest, tasks.purge_queue),
        "PauseQueue": (pb.PauseQueueRequest, tasks.pause_queue),
        "ResumeQueue": (pb.ResumeQueueRequest, tasks.resume_queue),
        "GetIamPolicy": (pb.GetIamPolicyRequest, iam.get_iam_policy),
        "SetIamPolicy": (pb.SetIamPolicyRequest, iam.set_iam_policy),
        "TestIamPermissions": (pb.TestIamPermissionsRequest, iam.test_iam_permissions),
        "ListTasks": (pb.ListTasksRequest, tasks.list_tasks),
        "GetTask": (pb.GetTaskRequest, tasks.get_task),
        "CreateTask": (pb.CreateTaskRequest, tasks.create_task),
        "DeleteTask": (pb.DeleteTaskRequest, tasks.delete_task),
        "RunTask": (pb.RunTaskRequest, tasks.run_task),
        "BatchCreateTasks": (pb.BatchCreateTasksRequest, batch.batch_create_tasks),
        "BatchDeleteTasks": (pb.BatchDeleteTasksRequest, batch.batch_delete_tasks),
        "GetCmekConfig": (pb.GetCmekConfigRequest, tasks.get_cmek_config),
        "UpdateCmekConfig": (pb.UpdateCmekConfigRequest, tasks.update_cmek_config),
    }


def mixin_methods(batch: BatchService, locations: LocationsService) -> dict[str, MethodTable]:
    return {
        LOCATIONS: {
            "ListLocations": (locations_pb2.ListLocationsRequest, locations.list_locations),
            "GetLocation": (locations_pb2.GetLocationRequest, locations.get_location),
        },
        OPERATIONS: {"GetOperation": (pb.GetOperationRequest, batch.get_operation)},
    }


def generic_handlers(services: dict[str, MethodTable]) -> list[grpc.GenericRpcHandler]:  # type: ignore[type-arg]
    """One generic handler per gRPC service name."""
    return [
        grpc.method_handlers_generic_handler(
            service,
            {
                rpc: unary_handler(f"{service}/{rpc}", request_type, method)
                for rpc, (request_type, method) in table.items()
            },
        )
        for service, table in services.items()
    ]


def add_health(server: grpc.aio.Server) -> Any:
    servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    return servicer


async def mark_serving(servicer: Any) -> None:
    for service in ("", CLOUD_TASKS):
        await servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
