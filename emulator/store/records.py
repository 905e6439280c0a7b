"""Plain typed records for queues, tasks and attempts: the store's vocabulary.

They hold resolved values (`emulator.store.defaults` fills in every default) and know
nothing of protobuf; `emulator.service.convert` translates between them and the wire
messages. `Attempt` is the public record of one delivery (`emulator.Attempt`);
`AttemptTimes` is what a task shows of its first and last attempt.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from emulator.core import limits
from emulator.store.names import QueueName, TaskName

RESPONSE_BODY_KEPT = 1024  # bytes of a target's answer an attempt keeps


class QueueState(enum.IntEnum):
    STATE_UNSPECIFIED = 0
    RUNNING = 1
    PAUSED = 2
    DISABLED = 3


class HttpMethod(enum.IntEnum):
    HTTP_METHOD_UNSPECIFIED = 0
    POST = 1
    GET = 2
    HEAD = 3
    PUT = 4
    DELETE = 5
    PATCH = 6
    OPTIONS = 7


class View(enum.IntEnum):
    VIEW_UNSPECIFIED = 0
    BASIC = 1
    FULL = 2


class Scheme(enum.IntEnum):
    """UriOverride.scheme; the unspecified value is documented as meaning HTTPS."""

    SCHEME_UNSPECIFIED = 0
    HTTP = 1
    HTTPS = 2


class EnforceMode(enum.IntEnum):
    """UriOverride.uri_override_enforce_mode; unspecified means ALWAYS."""

    URI_OVERRIDE_ENFORCE_MODE_UNSPECIFIED = 0
    IF_NOT_EXISTS = 1
    ALWAYS = 2


@dataclass(slots=True)
class RateLimits:
    max_dispatches_per_second: float = limits.DEFAULT_MAX_DISPATCHES_PER_SECOND
    max_concurrent_dispatches: int = limits.DEFAULT_MAX_CONCURRENT_DISPATCHES
    burst_override: int | None = None  # queue.yaml's bucket_size; the API never sets it

    @property
    def max_burst_size(self) -> int:
        if self.burst_override is not None:
            return self.burst_override
        return limits.burst_size_for(self.max_dispatches_per_second)


@dataclass(slots=True)
class RetryConfig:
    max_attempts: int = limits.DEFAULT_MAX_ATTEMPTS
    max_retry_duration: timedelta = limits.DEFAULT_MAX_RETRY_DURATION
    min_backoff: timedelta = limits.DEFAULT_MIN_BACKOFF
    max_backoff: timedelta = limits.DEFAULT_MAX_BACKOFF
    max_doublings: int = limits.DEFAULT_MAX_DOUBLINGS


@dataclass(slots=True)
class AppEngineRouting:
    service: str = ""
    version: str = ""
    instance: str = ""
    host: str = ""


@dataclass(slots=True)
class OAuthToken:
    service_account_email: str
    scope: str = ""


@dataclass(slots=True)
class OidcToken:
    service_account_email: str
    audience: str = ""


Token = OAuthToken | OidcToken


@dataclass(slots=True)
class UriOverride:
    """Each part is None when the override leaves it alone."""

    scheme: Scheme | None = None
    host: str | None = None
    port: int | None = None  # 0 clears the port
    path: str | None = None
    query: str | None = None
    enforce_mode: EnforceMode = EnforceMode.URI_OVERRIDE_ENFORCE_MODE_UNSPECIFIED


@dataclass(slots=True)
class HttpTarget:
    """Queue-level overrides for HTTP tasks (the queue's `http_target`)."""

    uri_override: UriOverride | None = None
    http_method: HttpMethod = HttpMethod.HTTP_METHOD_UNSPECIFIED
    header_overrides: list[tuple[str, str]] = field(default_factory=list)
    token: Token | None = None


@dataclass(slots=True)
class Queue:
    name: QueueName
    rate_limits: RateLimits = field(default_factory=RateLimits)
    retry_config: RetryConfig = field(default_factory=RetryConfig)
    state: QueueState = QueueState.RUNNING
    purge_time: datetime | None = None
    app_engine_routing_override: AppEngineRouting | None = None
    http_target: HttpTarget | None = None
    logging_sampling_ratio: float | None = None  # None: no logging config
    # v2beta3-only fields (None: the default). tombstone_ttl reserves the names of this
    # queue's finished tasks; task_ttl is stored and shown, not enforced.
    task_ttl: timedelta | None = None
    tombstone_ttl: timedelta | None = None


@dataclass(slots=True)
class HttpRequest:
    url: str
    http_method: HttpMethod = HttpMethod.POST
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    token: Token | None = None


@dataclass(slots=True)
class AppEngineHttpRequest:
    http_method: HttpMethod = HttpMethod.POST
    routing: AppEngineRouting | None = None
    relative_uri: str = "/"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


TaskRequest = HttpRequest | AppEngineHttpRequest


@dataclass(slots=True)
class ResponseStatus:
    code: int  # a google.rpc.Code
    message: str = ""


@dataclass(slots=True)
class AttemptTimes:
    """A task's `first_attempt` / `last_attempt`, as the API shows them."""

    schedule_time: datetime | None = None
    dispatch_time: datetime | None = None
    response_time: datetime | None = None
    response_status: ResponseStatus | None = None


@dataclass(slots=True)
class Task:
    name: TaskName
    request: TaskRequest
    schedule_time: datetime
    create_time: datetime
    dispatch_deadline: timedelta = limits.DEFAULT_DISPATCH_DEADLINE
    retry_config: RetryConfig | None = None  # the task's own override, if any
    dispatch_count: int = 0
    response_count: int = 0
    first_attempt: AttemptTimes | None = None
    last_attempt: AttemptTimes | None = None
    seq: int = 0  # creation order, assigned by the store: purge cut-off and list order
    # Dispatch bookkeeping the API does not show but the service headers need.
    execution_count: int = 0  # earlier attempts answered by the handler (see dispatch)
    previous_response: int | None = None  # HTTP status of the latest answered attempt


@dataclass(frozen=True, slots=True)
class Settlement:
    """What an attempt's outcome did to its task (see `Attempt.result`)."""

    result: str
    next_attempt: datetime | None = None
    backoff: str | None = None

    def describe(self) -> str:
        """For the log line: `next=TIME`, or what was done with the task."""
        if self.next_attempt is not None:
            return f"next={self.next_attempt.isoformat()}"
        if self.result == "succeeded":
            return "deleted (succeeded)"
        if self.result == "dropped":
            return f"deleted (retries exhausted: {self.backoff})"
        return f"{self.result} ({self.backoff})"


@dataclass(slots=True)
class Attempt:
    """One delivery attempt as the target saw it (`emulator.Attempt`): kept, newest
    `--attempt-history` of them, for `attempts()` and `/_emulator/attempts`. Each holds
    its request's headers and body and at most RESPONSE_BODY_KEPT bytes of the answer."""

    project: str
    location: str
    queue: str  # short ids
    task: str
    attempt: int  # 1-based
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    schedule_time: datetime  # when the attempt was due
    dispatch_time: datetime
    status: int | None = None  # None: no HTTP response
    error: str | None = None
    response_time: datetime | None = None
    # The first bytes of the target's answer, at most RESPONSE_BODY_KEPT (1 KiB): what the
    # handler said, kept without making the bounded history much bigger.
    response_body: bytes = b""
    # Set when the attempt settles: how long it took (real seconds), and what became of
    # the task: "succeeded", "retried" (at `next_attempt`, for the reason in `backoff`),
    # "dropped" (its retries ran out: `backoff` says which limit) or "discarded" (the
    # task was deleted meanwhile); "duplicate" for a duplicate delivery.
    latency: float | None = None
    result: str | None = None
    next_attempt: datetime | None = None
    backoff: str | None = None
    # A duplicate delivery (rough edges, docs/production-parity.md): attempt `attempt`, which
    # succeeded, delivered once more, the same request with a fresh token.
    duplicate: bool = False

    @property
    def queue_name(self) -> str:
        """The full queue name, `projects/P/locations/L/queues/Q`."""
        return f"projects/{self.project}/locations/{self.location}/queues/{self.queue}"

    @property
    def task_name(self) -> str:
        return f"{self.queue_name}/tasks/{self.task}"
