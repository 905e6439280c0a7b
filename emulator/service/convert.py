"""Translation between protobuf messages and the store's records.

From protobuf, what the caller set is read and handed to `emulator.store.defaults`,
which fills every default; to protobuf, every resolved value is written out, so each
read shows the full configuration.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import TypeVar

from emulator.core import errors
from emulator.service import pb
from emulator.service.times import (
    duration,
    set_duration,
    set_timestamp,
    timestamp,
    to_datetime,
    to_timedelta,
)
from emulator.store import defaults
from emulator.store.names import QueueName, TaskName
from emulator.store.records import (
    AppEngineHttpRequest,
    AppEngineRouting,
    AttemptTimes,
    EnforceMode,
    HttpMethod,
    HttpRequest,
    HttpTarget,
    OAuthToken,
    OidcToken,
    Queue,
    RateLimits,
    ResponseStatus,
    RetryConfig,
    Scheme,
    Task,
    Token,
    UriOverride,
    View,
)

E = TypeVar("E", bound=enum.IntEnum)


def _enum(kind: type[E], value: int, field: str) -> E:
    try:
        return kind(value)
    except ValueError:
        raise errors.InvalidArgument(f"Invalid value {value} for {field}.", field=field) from None


_HTTP_METHODS = {method.value: method for method in HttpMethod}


def http_method(value: int, field: str) -> HttpMethod:
    method = _HTTP_METHODS.get(value)  # a lookup: this runs for every task created
    return method if method is not None else _enum(HttpMethod, value, field)


def _duration(msg: pb.Message, field: str) -> timedelta | None:
    return to_timedelta(getattr(msg, field)) if msg.HasField(field) else None


# -- queues ----------------------------------------------------------------------------


def rate_limits_from_pb(msg: pb.Message) -> RateLimits:
    return defaults.rate_limits(msg.max_dispatches_per_second, msg.max_concurrent_dispatches)


def retry_config_from_pb(
    msg: pb.Message, base: RetryConfig, *, keep_zero_doublings: bool = False
) -> RetryConfig:
    """Unset fields take `base`'s value.

    proto3 cannot tell `max_doublings: 0` from unset; 0 counts as set only where the
    caller said so explicitly (an update_mask path naming the field).
    """
    return defaults.retry_config(
        base,
        max_attempts=msg.max_attempts,
        max_retry_duration=_duration(msg, "max_retry_duration"),
        min_backoff=_duration(msg, "min_backoff"),
        max_backoff=_duration(msg, "max_backoff"),
        max_doublings=msg.max_doublings if msg.max_doublings or keep_zero_doublings else None,
    )


def retry_config_to_pb(config: RetryConfig) -> pb.Message:
    return pb.RetryConfig(
        max_attempts=config.max_attempts,
        max_retry_duration=duration(config.max_retry_duration),
        min_backoff=duration(config.min_backoff),
        max_backoff=duration(config.max_backoff),
        max_doublings=config.max_doublings,
    )


def routing_from_pb(msg: pb.Message) -> AppEngineRouting:
    return AppEngineRouting(service=msg.service, version=msg.version, instance=msg.instance)


def routing_to_pb(routing: AppEngineRouting) -> pb.Message:
    return pb.AppEngineRouting(
        service=routing.service,
        version=routing.version,
        instance=routing.instance,
        host=routing.host,
    )


def token_from_pb(msg: pb.Message) -> Token | None:
    """The `authorization_header` oneof of HttpRequest and HttpTarget."""
    kind = msg.WhichOneof("authorization_header")
    if kind == "oauth_token":
        return OAuthToken(msg.oauth_token.service_account_email, msg.oauth_token.scope)
    if kind == "oidc_token":
        return OidcToken(msg.oidc_token.service_account_email, msg.oidc_token.audience)
    return None


def _set_headers(target: pb.Message, headers: dict[str, str]) -> None:
    for key, value in headers.items():  # a map field's own update() is pure Python
        target[key] = value


def _set_token(msg: pb.Message, token: Token | None) -> None:
    if isinstance(token, OAuthToken):
        msg.oauth_token.service_account_email = token.service_account_email
        msg.oauth_token.scope = token.scope
    elif isinstance(token, OidcToken):
        msg.oidc_token.service_account_email = token.service_account_email
        msg.oidc_token.audience = token.audience


def uri_override_from_pb(msg: pb.Message) -> UriOverride:
    # An empty PathOverride/QueryOverride message (gcloud sends them) leaves the part
    # alone; only a non-empty path or query replaces it.
    field = "http_target.uri_override"
    return UriOverride(
        scheme=_enum(Scheme, msg.scheme, f"{field}.scheme") if msg.HasField("scheme") else None,
        host=msg.host if msg.HasField("host") else None,
        port=msg.port if msg.HasField("port") else None,
        path=msg.path_override.path or None if msg.HasField("path_override") else None,
        query=msg.query_override.query_params or None if msg.HasField("query_override") else None,
        enforce_mode=_enum(
            EnforceMode, msg.uri_override_enforce_mode, f"{field}.uri_override_enforce_mode"
        ),
    )


def uri_override_to_pb(override: UriOverride) -> pb.Message:
    msg = pb.UriOverride(uri_override_enforce_mode=override.enforce_mode)
    if override.scheme is not None:
        msg.scheme = override.scheme
    if override.host is not None:
        msg.host = override.host
    if override.port is not None:
        msg.port = override.port
    if override.path is not None:
        msg.path_override.path = override.path
    if override.query is not None:
        msg.query_override.query_params = override.query
    return msg


def http_target_from_pb(msg: pb.Message) -> HttpTarget:
    return HttpTarget(
        uri_override=uri_override_from_pb(msg.uri_override)
        if msg.HasField("uri_override")
        else None,
        http_method=http_method(msg.http_method, "http_target.http_method"),
        header_overrides=[(h.header.key, h.header.value) for h in msg.header_overrides],
        token=token_from_pb(msg),
    )


def http_target_to_pb(target: HttpTarget) -> pb.Message:
    msg = pb.HttpTarget(http_method=target.http_method)
    if target.uri_override is not None:
        msg.uri_override.CopyFrom(uri_override_to_pb(target.uri_override))
    for key, value in target.header_overrides:
        override = msg.header_overrides.add()
        override.header.key, override.header.value = key, value
    _set_token(msg, target.token)
    return msg


def queue_from_pb(msg: pb.Message, name: QueueName, *, keep_zero_doublings: bool = False) -> Queue:
    """A queue configuration from a request; output-only fields are ignored."""
    return Queue(
        name=name,
        rate_limits=rate_limits_from_pb(msg.rate_limits),
        retry_config=retry_config_from_pb(
            msg.retry_config, RetryConfig(), keep_zero_doublings=keep_zero_doublings
        ),
        app_engine_routing_override=routing_from_pb(msg.app_engine_routing_override)
        if msg.HasField("app_engine_routing_override")
        else None,
        http_target=http_target_from_pb(msg.http_target) if msg.HasField("http_target") else None,
        logging_sampling_ratio=msg.stackdriver_logging_config.sampling_ratio
        if msg.HasField("stackdriver_logging_config")
        else None,
    )


def queue_to_pb(queue: Queue) -> pb.Message:
    msg = pb.Queue(
        name=str(queue.name),
        rate_limits=pb.RateLimits(
            max_dispatches_per_second=queue.rate_limits.max_dispatches_per_second,
            max_burst_size=queue.rate_limits.max_burst_size,
            max_concurrent_dispatches=queue.rate_limits.max_concurrent_dispatches,
        ),
        retry_config=retry_config_to_pb(queue.retry_config),
        state=queue.state,
    )
    if queue.purge_time is not None:
        msg.purge_time.CopyFrom(timestamp(queue.purge_time))
    if queue.app_engine_routing_override is not None:
        msg.app_engine_routing_override.CopyFrom(routing_to_pb(queue.app_engine_routing_override))
    if queue.http_target is not None:
        msg.http_target.CopyFrom(http_target_to_pb(queue.http_target))
    if queue.logging_sampling_ratio is not None:
        msg.stackdriver_logging_config.sampling_ratio = queue.logging_sampling_ratio
    return msg


# -- tasks -----------------------------------------------------------------------------


def http_request_from_pb(msg: pb.Message) -> HttpRequest:
    return HttpRequest(
        url=msg.url,
        http_method=defaults.method(http_method(msg.http_method, "http_request.http_method")),
        headers=dict(msg.headers),
        body=msg.body,
        token=token_from_pb(msg),
    )


def app_engine_request_from_pb(msg: pb.Message) -> AppEngineHttpRequest:
    return AppEngineHttpRequest(
        http_method=defaults.method(
            http_method(msg.http_method, "app_engine_http_request.http_method")
        ),
        routing=routing_from_pb(msg.app_engine_routing)
        if msg.HasField("app_engine_routing")
        else None,
        relative_uri=msg.relative_uri or "/",
        headers=dict(msg.headers),
        body=msg.body,
    )


def task_from_pb(
    msg: pb.Message, name: TaskName, *, now: datetime, queue_retry: RetryConfig
) -> Task:
    """A new task from a CreateTask request, with the defaults of a new task."""
    kind = msg.WhichOneof("message_type")
    request = (
        http_request_from_pb(msg.http_request)
        if kind == "http_request"
        else app_engine_request_from_pb(msg.app_engine_http_request)
    )
    return defaults.new_task(
        name,
        request,
        schedule_time=to_datetime(msg.schedule_time) if msg.HasField("schedule_time") else None,
        dispatch_deadline=_duration(msg, "dispatch_deadline"),
        retry_config=retry_config_from_pb(msg.retry_config, queue_retry)
        if msg.HasField("retry_config")
        else None,
        now=now,
    )


def attempt_to_pb(attempt: AttemptTimes) -> pb.Message:
    msg = pb.Attempt()
    for field in ("schedule_time", "dispatch_time", "response_time"):
        value = getattr(attempt, field)
        if value is not None:
            getattr(msg, field).CopyFrom(timestamp(value))
    if attempt.response_status is not None:
        msg.response_status.CopyFrom(attempt_status_to_pb(attempt.response_status))
    return msg


def attempt_status_to_pb(status: ResponseStatus) -> pb.Message:
    return pb.Status(code=status.code, message=status.message)


def task_to_pb(task: Task, view: View = View.BASIC) -> pb.Message:
    """The task as a response shows it in `view` (BASIC leaves the body out)."""
    return _task_pb(task, full=view == View.FULL)


def size_bound(task: Task) -> int:
    """At least the size of the stored task (its FULL message, serialized): every string
    and byte it holds, plus room for each field's tag and length and for the fixed-size
    fields. The exact size is measured only when this comes near the limit."""
    request = task.request
    size = 512 + len(str(task.name)) + len(request.body)
    size += sum(len(key) + len(value) + 16 for key, value in request.headers.items())
    if isinstance(request, HttpRequest):
        size += len(request.url)
        token = request.token
        if token is not None:
            extra = token.audience if isinstance(token, OidcToken) else token.scope
            size += len(token.service_account_email) + len(extra) + 32
    else:
        size += len(request.relative_uri)
        if request.routing is not None:
            routing = request.routing
            size += len(routing.service) + len(routing.version) + len(routing.instance) + 32
    return size


def _task_pb(task: Task, *, full: bool) -> pb.Message:
    # Every CreateTask answer and every listed task is built here: fields are set one by
    # one on a new message (faster than the keyword constructor), and a zero or empty
    # value, which proto3 leaves out anyway, is not set at all.
    msg = pb.Task()
    msg.name = str(task.name)
    msg.view = View.FULL if full else View.BASIC
    if task.dispatch_count:
        msg.dispatch_count = task.dispatch_count
    if task.response_count:
        msg.response_count = task.response_count
    set_timestamp(msg.schedule_time, task.schedule_time)
    set_timestamp(msg.create_time, task.create_time)
    set_duration(msg.dispatch_deadline, task.dispatch_deadline)
    request = task.request
    if isinstance(request, HttpRequest):
        http = msg.http_request
        http.url = request.url
        http.http_method = request.http_method
        _set_headers(http.headers, request.headers)
        if full and request.body:
            http.body = request.body
        if request.token is not None:
            _set_token(http, request.token)
    else:
        ae = msg.app_engine_http_request
        ae.http_method = request.http_method
        if request.routing is not None:
            ae.app_engine_routing.CopyFrom(routing_to_pb(request.routing))
        ae.relative_uri = request.relative_uri
        _set_headers(ae.headers, request.headers)
        if full and request.body:
            ae.body = request.body
    if task.first_attempt is not None:
        msg.first_attempt.CopyFrom(attempt_to_pb(task.first_attempt))
    if task.last_attempt is not None:
        msg.last_attempt.CopyFrom(attempt_to_pb(task.last_attempt))
    if task.retry_config is not None:
        msg.retry_config.CopyFrom(retry_config_to_pb(task.retry_config))
    return msg
