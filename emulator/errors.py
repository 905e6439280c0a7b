"""The emulator's error tree: what went wrong, in the terms of the Cloud Tasks API.

Store and service code raise these; `emulator.api.status` turns them into a gRPC status
or a Google JSON error envelope. Every user mistake must end up as one of these, never
as an unexpected exception (which the API layer reports as INTERNAL).

The messages of the errors the real service is known to return are kept here verbatim
(reference §2.2), so a test that matches production messages matches ours too.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Code(enum.IntEnum):
    """google.rpc.Code numbers (identical to grpc.StatusCode values)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


@dataclass(frozen=True)
class HelpLink:
    description: str
    url: str


class StartupError(Exception):
    """The emulator cannot start as configured (port taken, unreadable key file...)."""


class ApiError(Exception):
    """An error the API reports to the caller."""

    code = Code.UNKNOWN

    def __init__(
        self, message: str, *, help_link: HelpLink | None = None, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.help_link = help_link
        self.field = field  # the request field at fault, when one is


class InvalidArgument(ApiError):
    code = Code.INVALID_ARGUMENT


class NotFound(ApiError):
    code = Code.NOT_FOUND


class AlreadyExists(ApiError):
    code = Code.ALREADY_EXISTS


class FailedPrecondition(ApiError):
    code = Code.FAILED_PRECONDITION


class Aborted(ApiError):
    code = Code.ABORTED


class Unimplemented(ApiError):
    code = Code.UNIMPLEMENTED


class DeadlineExceeded(ApiError):
    code = Code.DEADLINE_EXCEEDED


class Internal(ApiError):
    """Only for the emulator's own bugs, never for a caller's mistake."""

    code = Code.INTERNAL


# Messages the real service returns (reference §2.2).
QUEUE_NOT_FOUND = (
    "Queue does not exist. If you just created the queue, wait at least a minute for the "
    "queue to initialize."
)
ENTITY_NOT_FOUND = "Requested entity was not found."
ENTITY_EXISTS = "Requested entity already exists"
QUEUE_EXISTS = "Queue already exists"
QUEUE_TOMBSTONED = (
    "The queue cannot be created because a queue with this name existed too recently."
)
TASK_TOMBSTONED = (
    "The task no longer exists, though a task with this name existed recently. The task "
    "either successfully completed or was deleted."
)
QUEUE_NAME_FORMAT = (
    'Queue name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/queues/'
    '<QUEUE_ID>".'
)
QUEUE_NAME_HELP = HelpLink(
    "Queue name format",
    "https://cloud.google.com/tasks/docs/reference/rpc/google.cloud.tasks.v2#google.cloud.tasks.v2.Queue.FIELDS.string.google.cloud.tasks.v2.Queue.name",
)
TASK_NAME_HELP = HelpLink(
    "Task name format",
    "https://cloud.google.com/tasks/docs/reference/rpc/google.cloud.tasks.v2#google.cloud.tasks.v2.Task.FIELDS.string.google.cloud.tasks.v2.Task.name",
)


def bad_task_id(task_id: str) -> InvalidArgument:
    return InvalidArgument(
        f'Task ID "{task_id}" can contain only letters ([A-Za-z]), numbers ([0-9]), hyphens '
        "(-), or underscores (_). Task ID must between 1 and 500 characters.",
        help_link=TASK_NAME_HELP,
    )


def task_in_other_queue(parent: str, task_queue: str) -> InvalidArgument:
    return InvalidArgument(
        f"The queue name from request ('{parent}') must be the same as the queue name in "
        f"the named task ('{task_queue}')."
    )
