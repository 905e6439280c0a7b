"""The outgoing request of an attempt, built by pure functions: every header rule in a
table, no network and no emulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from emulator.dispatch import request
from emulator.dispatch.authorization import Authorizer
from emulator.store.names import QueueName, TaskName
from emulator.store.records import (
    AppEngineHttpRequest,
    EnforceMode,
    HttpMethod,
    HttpRequest,
    HttpTarget,
    OAuthToken,
    OidcToken,
    Queue,
    Scheme,
    Task,
    UriOverride,
)

QUEUE = QueueName("p", "l", "mail")
ETA = datetime(2030, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def _task(req: HttpRequest | AppEngineHttpRequest, **fields: object) -> Task:
    task = Task(TaskName(QUEUE, "t1"), req, ETA, ETA - timedelta(hours=1))
    for key, value in fields.items():
        setattr(task, key, value)
    return task


@pytest.fixture(scope="module")
def authorizer() -> Authorizer:
    return Authorizer(issuer="http://emulator")


@pytest.mark.parametrize(
    ("url", "override", "expected"),
    [
        ("http://a/x?q=1", UriOverride(host="b"), "http://b/x?q=1"),
        ("http://a/x", UriOverride(scheme=Scheme.HTTPS), "https://a/x"),
        ("http://a:81/x", UriOverride(port=0), "http://a/x"),  # 0 clears the port
        ("http://a/x", UriOverride(port=8080), "http://a:8080/x"),
        ("http://a/x?q=1", UriOverride(path="y", query="r=2"), "http://a/y?r=2"),
        ("", UriOverride(scheme=Scheme.HTTP, host="w", port=9), "http://w:9"),
        ("", UriOverride(host="w"), "https://w"),  # no scheme at all: HTTPS
        # IF_NOT_EXISTS only fills what the task's URL lacks.
        (
            "http://a/keep",
            UriOverride(host="b", path="/other", enforce_mode=EnforceMode.IF_NOT_EXISTS),
            "http://a/keep",
        ),
        (
            "http://a/",
            UriOverride(path="/filled", enforce_mode=EnforceMode.IF_NOT_EXISTS),
            "http://a/filled",
        ),
    ],
)
def test_uri_overrides(url: str, override: UriOverride, expected: str) -> None:
    assert request.apply_uri_override(url, override) == expected


@pytest.mark.parametrize(
    ("attempt", "fields", "expected"),
    [
        (
            1,
            {},
            {"TaskRetryCount": "0", "TaskExecutionCount": "0"},
        ),
        (
            2,
            {"execution_count": 0, "previous_response": 503},
            {"TaskRetryCount": "1", "TaskPreviousResponse": "503", "TaskRetryReason": ""},
        ),
        (
            3,
            {"execution_count": 1, "previous_response": None},  # the last one timed out
            {"TaskRetryCount": "2", "TaskExecutionCount": "1"},
        ),
    ],
)
def test_service_headers(
    authorizer: Authorizer, attempt: int, fields: dict[str, object], expected: dict[str, str]
) -> None:
    task = _task(HttpRequest(url="http://h/"), **fields)
    out = request.build(task, Queue(QUEUE), attempt, authorizer=authorizer, app_engine_url="")
    headers = {k.removeprefix("X-CloudTasks-"): v for k, v in out.headers.items()}
    assert headers["QueueName"] == "mail"
    assert headers["TaskName"] == "t1"
    assert headers["TaskETA"] == "1893553445.123456"
    for key, value in expected.items():
        assert headers[key] == value
    if "TaskPreviousResponse" not in expected:
        assert "TaskPreviousResponse" not in headers
        assert "TaskRetryReason" not in headers


def test_caller_headers_keep_their_casing_and_lose_to_the_service(
    authorizer: Authorizer,
) -> None:
    stored = {"X-Custom": "kept", "x-cloudtasks-taskname": "forged", "host": "h", "Accept": "*/*"}
    task = _task(HttpRequest(url="http://h/", headers=stored))
    out = request.build(task, Queue(QUEUE), 1, authorizer=authorizer, app_engine_url="")
    assert out.headers["X-Custom"] == "kept"
    assert out.headers["Accept"] == "*/*"
    assert out.headers["X-CloudTasks-TaskName"] == "t1"
    assert "x-cloudtasks-taskname" not in out.headers
    assert "host" not in {k.lower() for k in out.headers}
    assert out.headers["User-Agent"] == "Google-Cloud-Tasks"


@pytest.mark.parametrize(
    ("method", "queue_method", "sent_method", "body_sent"),
    [
        (HttpMethod.POST, HttpMethod.HTTP_METHOD_UNSPECIFIED, "POST", True),
        (HttpMethod.PUT, HttpMethod.HTTP_METHOD_UNSPECIFIED, "PUT", True),
        (HttpMethod.PATCH, HttpMethod.HTTP_METHOD_UNSPECIFIED, "PATCH", True),
        (HttpMethod.POST, HttpMethod.GET, "GET", False),  # a GET override drops the body
    ],
)
def test_the_body_goes_only_with_body_methods(
    authorizer: Authorizer,
    method: HttpMethod,
    queue_method: HttpMethod,
    sent_method: str,
    body_sent: bool,
) -> None:
    task = _task(HttpRequest(url="http://h/", http_method=method, body=b"payload"))
    queue = Queue(QUEUE, http_target=HttpTarget(http_method=queue_method))
    out = request.build(task, queue, 1, authorizer=authorizer, app_engine_url="")
    assert out.method == sent_method
    assert out.body == (b"payload" if body_sent else b"")


def test_tokens(authorizer: Authorizer) -> None:
    oidc = _task(HttpRequest(url="http://h/x?y=1", token=OidcToken("sa@p.iam")))
    out = request.build(oidc, Queue(QUEUE), 1, authorizer=authorizer, app_engine_url="")
    claims = jwt.decode(
        out.headers["Authorization"].removeprefix("Bearer "), options={"verify_signature": False}
    )
    assert claims["aud"] == "http://h/x?y=1"  # the full task URL by default
    assert claims["email"] == "sa@p.iam"
    assert claims["iss"] == "http://emulator"
    oauth = _task(HttpRequest(url="http://h/", token=OAuthToken("sa@p.iam")))
    out = request.build(oauth, Queue(QUEUE), 1, authorizer=authorizer, app_engine_url="")
    assert out.headers["Authorization"].startswith("Bearer ya29.cloud-tasks-emulator.")


def test_app_engine_requests(authorizer: Authorizer) -> None:
    task = _task(
        AppEngineHttpRequest(
            relative_uri="/work?x=1", headers={"User-Agent": "mine AppEngine-Google"}, body=b"b"
        )
    )
    out = request.build(task, Queue(QUEUE), 1, authorizer=authorizer, app_engine_url="http://ae/")
    assert out.url == "http://ae/work?x=1"
    assert out.headers["X-AppEngine-QueueName"] == "mail"
    assert out.headers["User-Agent"] == "mine AppEngine-Google"
    assert out.body == b"b"
    assert not out.follow_redirects


def test_epoch_seconds_are_exact() -> None:
    assert request.epoch_seconds(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC)) == "1.000005"
