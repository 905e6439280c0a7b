"""The raw protobuf message classes behind the installed `google-cloud-tasks` types.

Using the client library's own classes keeps our wire format identical to the one the
real client speaks. They are generated at run time, so to a type checker they are `Any`;
the aliases below name what a value is meant to be.
"""

from __future__ import annotations

from typing import Any

from google.cloud.tasks_v2.types import cloudtasks, cmek_config, queue, target, task
from google.iam.v1 import iam_policy_pb2, policy_pb2
from google.longrunning import operations_pb2
from google.protobuf import duration_pb2, empty_pb2, timestamp_pb2
from google.rpc import status_pb2

Message = Any  # any protobuf message instance

Queue: Any = queue.Queue.pb()
RateLimits: Any = queue.RateLimits.pb()
RetryConfig: Any = queue.RetryConfig.pb()
StackdriverLoggingConfig: Any = queue.StackdriverLoggingConfig.pb()
Task: Any = task.Task.pb()
Attempt: Any = task.Attempt.pb()
HttpRequest: Any = target.HttpRequest.pb()
AppEngineHttpRequest: Any = target.AppEngineHttpRequest.pb()
AppEngineRouting: Any = target.AppEngineRouting.pb()
HttpTarget: Any = target.HttpTarget.pb()
UriOverride: Any = target.UriOverride.pb()
OAuthToken: Any = target.OAuthToken.pb()
OidcToken: Any = target.OidcToken.pb()
CmekConfig: Any = cmek_config.CmekConfig.pb()

ListQueuesRequest: Any = cloudtasks.ListQueuesRequest.pb()
ListQueuesResponse: Any = cloudtasks.ListQueuesResponse.pb()
GetQueueRequest: Any = cloudtasks.GetQueueRequest.pb()
CreateQueueRequest: Any = cloudtasks.CreateQueueRequest.pb()
UpdateQueueRequest: Any = cloudtasks.UpdateQueueRequest.pb()
DeleteQueueRequest: Any = cloudtasks.DeleteQueueRequest.pb()
PurgeQueueRequest: Any = cloudtasks.PurgeQueueRequest.pb()
PauseQueueRequest: Any = cloudtasks.PauseQueueRequest.pb()
ResumeQueueRequest: Any = cloudtasks.ResumeQueueRequest.pb()
ListTasksRequest: Any = cloudtasks.ListTasksRequest.pb()
ListTasksResponse: Any = cloudtasks.ListTasksResponse.pb()
GetTaskRequest: Any = cloudtasks.GetTaskRequest.pb()
CreateTaskRequest: Any = cloudtasks.CreateTaskRequest.pb()
DeleteTaskRequest: Any = cloudtasks.DeleteTaskRequest.pb()
RunTaskRequest: Any = cloudtasks.RunTaskRequest.pb()
BatchCreateTasksRequest: Any = cloudtasks.BatchCreateTasksRequest.pb()
BatchCreateTasksResponse: Any = cloudtasks.BatchCreateTasksResponse.pb()
BatchCreateTasksMetadata: Any = cloudtasks.BatchCreateTasksMetadata.pb()
BatchDeleteTasksRequest: Any = cloudtasks.BatchDeleteTasksRequest.pb()
BatchDeleteTasksMetadata: Any = cloudtasks.BatchDeleteTasksMetadata.pb()
GetCmekConfigRequest: Any = cloudtasks.GetCmekConfigRequest.pb()
UpdateCmekConfigRequest: Any = cloudtasks.UpdateCmekConfigRequest.pb()

GetIamPolicyRequest: Any = iam_policy_pb2.GetIamPolicyRequest
SetIamPolicyRequest: Any = iam_policy_pb2.SetIamPolicyRequest
TestIamPermissionsRequest: Any = iam_policy_pb2.TestIamPermissionsRequest
TestIamPermissionsResponse: Any = iam_policy_pb2.TestIamPermissionsResponse
Policy: Any = policy_pb2.Policy

Operation: Any = operations_pb2.Operation
GetOperationRequest: Any = operations_pb2.GetOperationRequest

Empty: Any = empty_pb2.Empty
Timestamp: Any = timestamp_pb2.Timestamp
Duration: Any = duration_pb2.Duration
Status: Any = status_pb2.Status
