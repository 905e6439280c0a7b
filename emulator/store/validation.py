"""Value rules for queue configurations and new tasks, as the Cloud Tasks API reference
states them for each field (Queue, RateLimits, RetryConfig, Task, HttpRequest).

Messages for rules whose production wording is unknown are our own; each names the
field and the allowed range so the caller can fix the request without reading docs.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from emulator.core import errors, limits
from emulator.core.durations import format_duration
from emulator.store import rules
from emulator.store.records import (
    AppEngineHttpRequest,
    HttpRequest,
    HttpTarget,
    OAuthToken,
    OidcToken,
    Queue,
    RetryConfig,
    Task,
    UriOverride,
)

# RFC 9110 field names are tokens; values must not break the header block.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE_BAD = re.compile(r"[\r\n\x00]")


def _invalid(field: str, problem: str) -> errors.InvalidArgument:
    """INVALID_ARGUMENT for `field`, worded "<field> <problem>"."""
    return errors.InvalidArgument(f"{field} {problem}", field=field)


def validate_queue(queue: Queue) -> None:
    rate = queue.rate_limits.max_dispatches_per_second
    if not 0 < rate <= limits.MAX_DISPATCHES_PER_SECOND:
        raise _invalid(
            "rate_limits.max_dispatches_per_second",
            f"must be greater than 0 and at most "
            f"{limits.MAX_DISPATCHES_PER_SECOND:g}, got {rate:g}.",
        )
    concurrency = queue.rate_limits.max_concurrent_dispatches
    if not 0 < concurrency <= limits.MAX_CONCURRENT_DISPATCHES:
        raise _invalid(
            "rate_limits.max_concurrent_dispatches",
            f"must be between 1 and {limits.MAX_CONCURRENT_DISPATCHES}, got {concurrency}.",
        )
    validate_retry_config(queue.retry_config, "retry_config")
    ratio = queue.logging_sampling_ratio
    if ratio is not None and not 0.0 <= ratio <= 1.0:
        raise _invalid(
            "stackdriver_logging_config.sampling_ratio",
            f"must be between 0.0 and 1.0, got {ratio:g}.",
        )
    if queue.http_target is not None:
        _validate_http_target(queue.http_target)


def validate_retry_config(config: RetryConfig, prefix: str) -> None:
    if config.max_attempts < limits.UNLIMITED_ATTEMPTS:
        raise _invalid(
            f"{prefix}.max_attempts",
            f"must be -1 (unlimited) or greater, got {config.max_attempts}.",
        )
    for field in ("max_retry_duration", "min_backoff", "max_backoff"):
        value: timedelta = getattr(config, field)
        if value < timedelta(0):
            raise _invalid(
                f"{prefix}.{field}", f"must not be negative, got {format_duration(value)}."
            )
    if config.min_backoff > config.max_backoff:
        raise _invalid(
            f"{prefix}.min_backoff",
            f"({format_duration(config.min_backoff)}) must not be greater "
            f"than {prefix}.max_backoff ({format_duration(config.max_backoff)}).",
        )
    if config.max_doublings < 0:
        raise _invalid(
            f"{prefix}.max_doublings", f"must not be negative, got {config.max_doublings}."
        )


def _validate_http_target(target: HttpTarget) -> None:
    override = target.uri_override
    if override is not None:
        _validate_uri_override(override)
    if isinstance(target.token, OAuthToken) and not (
        target.token.service_account_email and target.token.scope
    ):
        raise _invalid("http_target.oauth_token", "needs both service_account_email and scope.")
    if isinstance(target.token, OidcToken) and not (
        target.token.service_account_email and target.token.audience
    ):
        raise _invalid("http_target.oidc_token", "needs both service_account_email and audience.")
    _validate_headers(dict(target.header_overrides), "http_target.header_overrides")


def _validate_uri_override(override: UriOverride) -> None:
    if override.host is not None and not override.host:
        raise _invalid("http_target.uri_override.host", "must not be empty when it is set.")
    if override.port is not None and override.port < 0:
        raise _invalid("http_target.uri_override.port", f"must be positive, got {override.port}.")


def _validate_headers(headers: dict[str, str], field: str) -> None:
    for key, value in headers.items():
        if not _HEADER_NAME.fullmatch(key):
            raise _invalid(f"{field}", f"has a header name HTTP does not allow: {key[:100]!r}.")
        if _HEADER_VALUE_BAD.search(value):
            raise _invalid(
                f"{field}[{key}]",
                "must not contain CR, LF or NUL (the request could not be sent).",
            )
    size = sum(len(k) + len(v) for k, v in headers.items())
    if size >= limits.MAX_HEADERS_SIZE:
        raise _invalid(f"{field}", f"must total less than 80 KB, got {size} bytes.")


def validate_task(task: Task, queue: Queue, now: datetime) -> None:
    if task.schedule_time > now + limits.MAX_SCHEDULE_AHEAD:
        raise _invalid("Task.schedule_time", "must be at most 720 hours (30 days) in the future.")
    request = task.request
    if isinstance(request, HttpRequest):
        _validate_http_request(request, queue)
        low, high = limits.HTTP_DISPATCH_DEADLINE_RANGE
    else:
        _validate_app_engine_request(request)
        low, high = limits.APP_ENGINE_DISPATCH_DEADLINE_RANGE
    if not low <= task.dispatch_deadline <= high:
        raise _invalid(
            "Task.dispatch_deadline",
            f"must be between {format_duration(low)} and {format_duration(high)}, "
            f"got {format_duration(task.dispatch_deadline)}.",
        )
    if task.retry_config is not None:
        validate_retry_config(task.retry_config, "Task.retry_config")


def _validate_http_request(request: HttpRequest, queue: Queue) -> None:
    override = queue.http_target.uri_override if queue.http_target else None
    if not request.url:
        # The queue's uri_override can supply the whole URL (as BufferTask relies on).
        if override is None or not override.host:
            raise _invalid("HttpRequest.url", "is required.")
    else:
        scheme = urlsplit(request.url).scheme if "://" in request.url else ""
        if scheme not in ("http", "https") or not urlsplit(request.url).netloc:
            raise _invalid(
                "HttpRequest.url",
                'must be an absolute URL starting with "http://" or '
                f'"https://", got "{request.url[:200]}".',
            )
        if len(request.url) > limits.MAX_URL_LENGTH:
            raise _invalid(
                "HttpRequest.url",
                f"must be at most {limits.MAX_URL_LENGTH} characters, got {len(request.url)}.",
            )
    if request.body and request.http_method not in rules.HTTP_BODY_METHODS:
        raise _invalid(
            "HttpRequest.body",
            f"is only allowed with POST, PUT or PATCH, not {request.http_method.name}.",
        )
    _validate_headers(request.headers, "HttpRequest.headers")
    if isinstance(request.token, OAuthToken | OidcToken) and not (
        request.token.service_account_email
    ):
        raise _invalid("The token's service_account_email", "is required.")


def _validate_app_engine_request(request: AppEngineHttpRequest) -> None:
    uri = request.relative_uri
    if not uri.startswith("/") or any(c.isspace() for c in uri):
        raise _invalid(
            "AppEngineHttpRequest.relative_uri",
            f'must start with "/" and contain no spaces, got "{uri[:200]}".',
        )
    if len(uri) > limits.MAX_URL_LENGTH:
        raise _invalid(
            "AppEngineHttpRequest.relative_uri",
            f"must be at most {limits.MAX_URL_LENGTH} characters, got {len(uri)}.",
        )
    if request.body and request.http_method not in rules.APP_ENGINE_BODY_METHODS:
        raise _invalid(
            "AppEngineHttpRequest.body",
            f"is only allowed with POST or PUT, not {request.http_method.name}.",
        )
    _validate_headers(request.headers, "AppEngineHttpRequest.headers")
