"""The exact HTTP request Cloud Tasks sends for one attempt.

Pure functions of the task, its queue and the attempt: no I/O, so every header rule is
testable on its own and the sender only has to put the bytes on the wire. The rules are
those of the Cloud Tasks docs (queue-level `http_target` overrides, the
`X-CloudTasks-*` request headers of "Creating HTTP Target tasks", App Engine's
`X-AppEngine-*` headers) and docs/behaviour.md's Behaviour notes where the docs are silent.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from emulator.core import limits
from emulator.store import rules
from emulator.store.records import (
    AppEngineHttpRequest,
    Attempt,
    EnforceMode,
    HttpMethod,
    HttpRequest,
    OAuthToken,
    OidcToken,
    Queue,
    Scheme,
    Task,
    Token,
    UriOverride,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Tokens(Protocol):
    """What mints the Authorization header's tokens (`emulator.dispatch.authorization`)."""

    def oidc(self, email: str, audience: str) -> str: ...

    def oauth(self, email: str, scope: str) -> str: ...


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
    only_missing = override.enforce_mode == EnforceMode.IF_NOT_EXISTS
    scheme, netloc, path, query = parts.scheme, parts.netloc, parts.path, parts.query
    host, port = parts.hostname or "", parts.port

    if override.scheme is not None and not (only_missing and scheme):
        scheme = "http" if override.scheme == Scheme.HTTP else "https"
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


def _authorization(token: Token, url: str, authorizer: Tokens) -> str:
    if isinstance(token, OidcToken):
        return "Bearer " + authorizer.oidc(token.service_account_email, token.audience or url)
    assert isinstance(token, OAuthToken)
    scope = token.scope or limits.DEFAULT_OAUTH_SCOPE
    return "Bearer " + authorizer.oauth(token.service_account_email, scope)


def _names(prefix: str) -> tuple[str, ...]:
    return tuple(
        prefix + name
        for name in (
            "QueueName",
            "TaskName",
            "TaskRetryCount",
            "TaskExecutionCount",
            "TaskETA",
            "TaskPreviousResponse",
            "TaskRetryReason",
        )
    )


# The service headers' names, by prefix: built once, not for every attempt.
_SERVICE_NAMES = {
    p: _names(p) for p in (rules.HTTP_SERVICE_PREFIX, rules.APP_ENGINE_SERVICE_PREFIX)
}


def _retry_headers(task: Task, attempt: int, prefix: str, retry_reason: str) -> dict[str, str]:
    queue, name, retries, executions, eta, previous, reason = _SERVICE_NAMES[prefix]
    headers = {
        queue: task.name.queue_name.queue,
        name: task.name.task,
        retries: str(attempt - 1),
        executions: str(task.execution_count),
        eta: epoch_seconds(task.schedule_time),
    }
    if attempt > 1 and task.previous_response is not None:
        headers[previous] = str(task.previous_response)
        headers[reason] = retry_reason
    return headers


_OWNED = rules.SERVICE_OWNED_HEADERS
_OWNED_WITH_TOKEN = _OWNED | {"authorization"}


def _merge(stored: dict[str, str], service: dict[str, str], reserved: str) -> dict[str, str]:
    """The stored headers minus those the service sets (in any casing: its own prefix,
    the User-Agent, the Authorization it mints), then the service's own."""
    owned = _OWNED_WITH_TOKEN if "Authorization" in service else _OWNED
    headers = {
        key: value
        for key, value in stored.items()
        if (lower := key.lower()) not in owned and not lower.startswith(reserved)
    }
    headers.update(service)
    return headers


def http_request(
    task: Task, request: HttpRequest, queue: Queue, attempt: int, authorizer: Tokens
) -> OutgoingRequest:
    target = queue.http_target
    url, method = request.url, request.http_method
    stored = request.headers  # read only; copied before an override changes it
    token = request.token
    if target is not None:
        if target.uri_override is not None:
            url = apply_uri_override(url, target.uri_override)
        if target.http_method != HttpMethod.HTTP_METHOD_UNSPECIFIED:
            method = target.http_method
        if target.header_overrides:
            stored = dict(stored)
            for key, value in target.header_overrides:
                _set_header(stored, key, value)
        token = target.token or token
    service = _retry_headers(task, attempt, rules.HTTP_SERVICE_PREFIX, retry_reason="")
    service["User-Agent"] = limits.HTTP_USER_AGENT
    if token is not None:
        service["Authorization"] = _authorization(token, url, authorizer)
    return OutgoingRequest(
        method=method.name,
        url=url,
        headers=_merge(stored, service, reserved=rules.HTTP_SERVICE_PREFIX.lower()),
        body=request.body if method in rules.HTTP_BODY_METHODS else b"",
        timeout=task.dispatch_deadline,
        follow_redirects=True,
    )


def app_engine_request(
    task: Task, request: AppEngineHttpRequest, attempt: int, base_url: str
) -> OutgoingRequest:
    prefix = rules.APP_ENGINE_SERVICE_PREFIX
    service = _retry_headers(task, attempt, prefix, retry_reason="App Error")
    user_agent = request.headers.get("User-Agent", limits.APP_ENGINE_USER_AGENT)
    headers = _merge(request.headers, service, reserved=prefix.lower())
    headers["User-Agent"] = user_agent
    return OutgoingRequest(
        method=request.http_method.name,
        url=base_url.rstrip("/") + request.relative_uri,
        headers=headers,
        body=request.body if request.http_method in rules.APP_ENGINE_BODY_METHODS else b"",
        timeout=task.dispatch_deadline,
        follow_redirects=False,  # App Engine targets are never redirected
    )


def repeat(
    task: Task, queue: Queue, first: Attempt, at: datetime, authorizer: Tokens
) -> tuple[Attempt, OutgoingRequest]:
    """A duplicate delivery of the attempt `first` (rough edges, docs/production-parity.md),
    dispatched `at`: its record and request, the same as `first`'s (method, URL, body,
    every header) but for the token, minted anew as for every dispatch."""
    headers = dict(first.headers)
    token = None
    if isinstance(task.request, HttpRequest):
        target = queue.http_target
        token = (target.token if target is not None else None) or task.request.token
    if token is not None:
        headers["Authorization"] = _authorization(token, first.url, authorizer)
    record = dataclasses.replace(
        first, headers=headers, dispatch_time=at, status=None, error=None, response_time=None,
        response_body=b"", latency=None, result=None, next_attempt=None, backoff=None,
        duplicate=True,
    )  # fmt: skip
    follow = isinstance(task.request, HttpRequest)  # as `http_request` and `app_engine_request`
    outgoing = OutgoingRequest(
        first.method, first.url, headers, first.body, task.dispatch_deadline, follow
    )
    return record, outgoing


def build(
    task: Task, queue: Queue, attempt: int, *, authorizer: Tokens, app_engine_url: str
) -> OutgoingRequest:
    if isinstance(task.request, HttpRequest):
        return http_request(task, task.request, queue, attempt, authorizer)
    return app_engine_request(task, task.request, attempt, app_engine_url)
