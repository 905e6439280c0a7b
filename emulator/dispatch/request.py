"""The exact HTTP request Cloud Tasks sends for one attempt (reference §4.6, §8).

Pure functions of the task, its queue and the attempt: no I/O, so every header rule is
testable on its own and the sender only has to put the bytes on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from emulator.dispatch.tokens import TokenMinter
from emulator.store import limits
from emulator.store.records import (
    AppEngineHttpRequest,
    HttpMethod,
    HttpRequest,
    OAuthToken,
    OidcToken,
    Queue,
    Task,
    Token,
    UriOverride,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BODY_METHODS = {HttpMethod.POST, HttpMethod.PUT, HttpMethod.PATCH}
# Headers the sender computes or the service owns; a stored value never goes out as is.
_NEVER_FORWARDED = ("host", "content-length", "user-agent")
_IF_NOT_EXISTS = 1
_HTTP, _HTTPS = 1, 2


@dataclass(frozen=True)
class OutgoingRequest:
    method: str
    url: str
    headers: dict[str, str]  # the caller's casing is kept
    body: bytes
    timeout: timedelta
    follow_redirects: bool


def epoch_seconds(dt: datetime) -> str:
    """Seconds since the epoch with microseconds, exact (no float rounding)."""
    delta = dt - _EPOCH
    return f"{delta.days * 86400 + delta.seconds}.{delta.microseconds:06d}"


def _set_header(headers: dict[str, str], key: str, value: str) -> None:
    """Set `key`, replacing any header of the same name in another casing."""
    for existing in [k for k in headers if k.lower() == key.lower()]:
        del headers[existing]
    headers[key] = value


def apply_uri_override(url: str, override: UriOverride) -> str:
    parts = urlsplit(url)
    only_missing = override.enforce_mode == _IF_NOT_EXISTS
    scheme, netloc, path, query = parts.scheme, parts.netloc, parts.path, parts.query
    host, port = parts.hostname or "", parts.port

    if override.scheme is not None and not (only_missing and scheme):
        scheme = "http" if override.scheme == _HTTP else "https"
    if override.host is not None and not (only_missing and host):
        host = override.host
    if override.port is not None and not (only_missing and port):
        port = override.port or None  # 0 clears the port
    if override.path is not None and not (only_missing and path not in ("", "/")):
        path = override.path if override.path.startswith("/") else "/" + override.path
    if override.query is not None and not (only_missing and query):
        query = override.query
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((scheme or "https", netloc, path, query, ""))


def _authorization(token: Token, url: str, minter: TokenMinter) -> str:
    if isinstance(token, OidcToken):
        return "Bearer " + minter.oidc(token.service_account_email, token.audience or url)
    assert isinstance(token, OAuthToken)
    scope = token.scope or limits.DEFAULT_OAUTH_SCOPE
    return "Bearer " + minter.oauth(token.service_account_email, scope)


def _retry_headers(task: Task, attempt: int, prefix: str, retry_reason: str) -> dict[str, str]:
    headers = {
        f"{prefix}QueueName": task.name.queue_name.queue,
        f"{prefix}TaskName": task.name.task,
        f"{prefix}TaskRetryCount": str(attempt - 1),
        f"{prefix}TaskExecutionCount": str(task.execution_count),
        f"{prefix}TaskETA": epoch_seconds(task.schedule_time),
    }
    if attempt > 1 and task.previous_response is not None:
        headers[f"{prefix}TaskPreviousResponse"] = str(task.previous_response)
        headers[f"{prefix}TaskRetryReason"] = retry_reason
    return headers


def _merge(stored: dict[str, str], service: dict[str, str], reserved: str) -> dict[str, str]:
    """The stored headers minus those the service sets, then the service's own."""
    headers = {
        k: v
        for k, v in stored.items()
        if k.lower() not in _NEVER_FORWARDED and not k.lower().startswith(reserved)
    }
    for key, value in service.items():
        _set_header(headers, key, value)
    return headers


def http_request(
    task: Task, request: HttpRequest, queue: Queue, attempt: int, minter: TokenMinter
) -> OutgoingRequest:
    target = queue.http_target
    url, method = request.url, request.http_method
    stored = dict(request.headers)
    token = request.token
    if target is not None:
        if target.uri_override is not None:
            url = apply_uri_override(url, target.uri_override)
        if target.http_method != HttpMethod.HTTP_METHOD_UNSPECIFIED:
            method = target.http_method
        for key, value in target.header_overrides:
            _set_header(stored, key, value)
        token = target.token or token
    service = _retry_headers(task, attempt, "X-CloudTasks-", retry_reason="")
    service["User-Agent"] = limits.HTTP_USER_AGENT
    if token is not None:
        service["Authorization"] = _authorization(token, url, minter)
    return OutgoingRequest(
        method=method.name,
        url=url,
        headers=_merge(stored, service, reserved="x-cloudtasks-"),
        body=request.body if method in _BODY_METHODS else b"",
        timeout=task.dispatch_deadline,
        follow_redirects=True,
    )


def app_engine_request(
    task: Task, request: AppEngineHttpRequest, attempt: int, base_url: str
) -> OutgoingRequest:
    service = _retry_headers(task, attempt, "X-AppEngine-", retry_reason="App Error")
    user_agent = request.headers.get("User-Agent", limits.APP_ENGINE_USER_AGENT)
    headers = _merge(request.headers, service, reserved="x-appengine-")
    headers["User-Agent"] = user_agent
    return OutgoingRequest(
        method=request.http_method.name,
        url=base_url.rstrip("/") + request.relative_uri,
        headers=headers,
        body=request.body if request.http_method in (HttpMethod.POST, HttpMethod.PUT) else b"",
        timeout=task.dispatch_deadline,
        follow_redirects=False,  # App Engine targets are never redirected
    )


def build(
    task: Task, queue: Queue, attempt: int, *, minter: TokenMinter, app_engine_url: str
) -> OutgoingRequest:
    if isinstance(task.request, HttpRequest):
        return http_request(task, task.request, queue, attempt, minter)
    return app_engine_request(task, task.request, attempt, app_engine_url)
