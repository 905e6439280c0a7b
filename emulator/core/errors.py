"""The emulator's error tree: one root, every leaf documented with when it is raised.

    EmulatorError
    ├── StartupError           the emulator cannot start as configured
    │   └── ConfigError        a start-up queue file or --queue flag is wrong (file:line: field)
    └── ApiError               a caller's request fails; answered as a gRPC status or the
        │                      Google JSON error envelope (`emulator.http.envelope`)
        ├── InvalidArgument    a malformed name, a value out of range, a bad JSON field
        ├── NotFound           a queue, task, operation or path that does not exist
        ├── AlreadyExists      a queue or task name in use (or a task name reserved)
        ├── FailedPrecondition the request does not fit the state: a tombstoned queue name,
        │   │                  BufferTask without queue routing
        │   └── NotAdvanceable advance() on an emulator running on the real clock
        ├── PermissionDenied   a change sent by a browser cross-site, or as a form
        ├── Aborted            SetIamPolicy with a stale etag
        ├── DeadlineExceeded   advance() or a wait did not finish within its timeout
        ├── Cancelled          the client went away before its request was read
        └── Internal           only for the emulator's own bugs, never a caller's mistake

Store and service code raise these. Every user mistake must end up as one of them,
never as an unexpected exception (which the transport boundaries report as INTERNAL and
log). The messages of the errors the real service is known to return are kept here
verbatim, so a test that matches production messages matches ours too.
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


MAX_MESSAGE = 1024  # characters of an error message


@dataclass(frozen=True)
class HelpLink:
    description: str
    url: str


class EmulatorError(Exception):
    """The root of every error the emulator raises on purpose."""


class StartupError(EmulatorError):
    """The emulator cannot start as configured: a port taken, an unreadable key file."""


class ConfigError(StartupError):
    """A start-up queue (file or --queue flag) is wrong; says where and which field."""

    def __init__(self, source: str, line: int | None, field: str, problem: str) -> None:
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {field}: {problem}")
        self.source, self.line, self.field = source, line, field


class ApiError(EmulatorError):
    """An error the API reports to the caller, with its canonical code."""

    code = Code.UNKNOWN

    def __init__(
        self, message: str, *, help_link: HelpLink | None = None, field: str | None = None
    ) -> None:
        if len(message) > MAX_MESSAGE:  # a message quoting huge input must still fit in
            message = message[: MAX_MESSAGE - 3] + "..."  # gRPC's trailers (8 KiB in all)
        super().__init__(message)
        self.message = message
        self.help_link = help_link
        self.field = field  # the request field at fault, when one is


class InvalidArgument(ApiError):
    """A malformed name or request, a value out of range; `field` names it when known."""

    code = Code.INVALID_ARGUMENT


class NotFound(ApiError):
    """A queue, task, operation or HTTP path that does not exist (or no longer does)."""

    code = Code.NOT_FOUND


class AlreadyExists(ApiError):
    """CreateQueue or CreateTask with a name in use, or a task name still reserved."""

    code = Code.ALREADY_EXISTS


class FailedPrecondition(ApiError):
    """The request does not fit the state: a queue name deleted too recently, BufferTask
    on a queue without routing."""

    code = Code.FAILED_PRECONDITION


class NotAdvanceable(FailedPrecondition):
    """advance() on an emulator that runs on the real clock."""

    def __init__(self) -> None:
        super().__init__(
            "The emulator runs on the real clock, which cannot be advanced; start it with "
            "--clock virtual (the pytest plugin does)."
        )


class PermissionDenied(ApiError):
    """A change the emulator refuses to take from where it came (a browser's cross-site
    request, a form post to a control endpoint)."""

    code = Code.PERMISSION_DENIED


class Aborted(ApiError):
    """SetIamPolicy with an etag that is no longer the policy's."""

    code = Code.ABORTED


class DeadlineExceeded(ApiError):
    """advance(), wait_until_idle() or wait_for_attempts() did not finish in time; the
    message says what was still busy."""

    code = Code.DEADLINE_EXCEEDED


class Cancelled(ApiError):
    """The client closed the connection before the emulator could read its request: an
    answer nobody will read, and not the emulator's error."""

    code = Code.CANCELLED


class Internal(ApiError):
    """Only for the emulator's own bugs, never for a caller's mistake."""

    code = Code.INTERNAL


# Messages the real service returns (recorded from production; see docs/behaviour.md).
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
