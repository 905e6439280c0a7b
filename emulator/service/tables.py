"""The RPC tables: each RPC's name, request type and service method, for every port.

The installed client package ships message types but no service descriptor, so the
tables are built here from (method name, request class, service method). The gRPC port
turns them into handlers (`emulator.grpc.server`); REST maps its routes onto the same
tables (`emulator.http.rest`), so both ports answer each RPC with the same method.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.cloud.location import locations_pb2

from emulator.service import pb
from emulator.service.batch import BatchService
from emulator.service.iam import IamService
from emulator.service.locations import LocationsService
from emulator.service.service import CloudTasksService

CLOUD_TASKS = "google.cloud.tasks.v2.CloudTasks"
CLOUD_TASKS_V2BETA3 = "google.cloud.tasks.v2beta3.CloudTasks"
LOCATIONS = "google.cloud.location.Locations"
OPERATIONS = "google.longrunning.Operations"

ServiceMethod = Callable[[Any], Any]


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
