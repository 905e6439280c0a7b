"""The outgoing request: method, path, body and headers, as the queue's overrides make it."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

import pytest
from google.api_core import exceptions
from google.cloud import tasks_v2

from emulator import Emulator
from emulator.core import errors

from support import Client, Receiver, fast_retries, make_queue

Method = tasks_v2.HttpMethod
IF_NOT_EXISTS = tasks_v2.UriOverride.UriOverrideEnforceMode.IF_NOT_EXISTS


def epoch_seconds(when: datetime) -> str:
    """X-CloudTasks-TaskETA's format: seconds since the epoch, with microseconds."""
    return f"{calendar.timegm(when.utctimetuple())}.{when.microsecond:06d}"


def test_http_task_arrives_with_exact_headers_and_body(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    queue = make_queue(client, "orders")
    name = f"{queue.name}/tasks/order-7"
    task = client.create_task(
        parent=queue.name,
        task={
            "name": name,
            "http_request": {
                "url": f"{receiver.url}/work?x=1",
                "headers": {"X-Custom-Case": "Kept", "Content-Type": "application/json"},
                "body": b'{"a": 1}',
            },
        },
    )
    (attempt,) = emu.wait_for_attempts(1)
    assert attempt.status == 200
    (request,) = receiver.requests
    assert request["method"] == "POST"
    assert request["path"] == "/work?x=1"
    assert request["body"] == b'{"a": 1}'
    assert "X-Custom-Case" in [sent for sent, _ in request["raw_headers"]]  # its casing kept
    headers = request["headers"]
    assert headers["x-custom-case"] == "Kept"
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "Google-Cloud-Tasks"
    assert headers["x-cloudtasks-queuename"] == "orders"
    assert headers["x-cloudtasks-taskname"] == "order-7"
    assert headers["x-cloudtasks-taskretrycount"] == "0"
    assert headers["x-cloudtasks-taskexecutioncount"] == "0"
    assert headers["x-cloudtasks-tasketa"] == epoch_seconds(task.schedule_time)
    assert "x-cloudtasks-taskpreviousresponse" not in headers
    assert "x-cloudtasks-taskretryreason" not in headers
    assert "authorization" not in headers
    assert headers["content-length"] == "8"
    # Success deletes the task and reserves its name.
    with pytest.raises(exceptions.NotFound) as e:
        client.get_task(name=name)
    assert e.value.message == errors.TASK_TOMBSTONED
    with pytest.raises(exceptions.AlreadyExists):
        client.create_task(
            parent=queue.name, task={"name": name, "http_request": {"url": "http://x"}}
        )


def test_eta_is_epoch_seconds_with_microseconds(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    queue = make_queue(client)
    when = datetime(2001, 1, 1, tzinfo=UTC)  # in the past: due now, ETA = now
    task = client.create_task(
        parent=queue.name, task={"http_request": {"url": receiver.url}, "schedule_time": when}
    )
    emu.wait_for_attempts(1)
    seconds, micros = receiver.requests[0]["headers"]["x-cloudtasks-tasketa"].split(".")
    assert len(micros) == 6
    assert (
        datetime.fromtimestamp(int(seconds), UTC) + timedelta(microseconds=int(micros))
        == task.schedule_time
    )


def test_http_task_without_content_type_gets_none(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    queue = make_queue(client)
    client.create_task(
        parent=queue.name, task={"http_request": {"url": receiver.url, "body": b"x"}}
    )
    emu.wait_for_attempts(1)
    headers = receiver.requests[0]["headers"]
    assert "content-type" not in headers
    assert "accept" not in headers


@pytest.mark.parametrize(
    ("method", "body"),
    [
        (Method.POST, b"p"),
        (Method.PUT, b"u"),
        (Method.PATCH, b"a"),
        (Method.GET, b""),
        (Method.DELETE, b""),
        (Method.HEAD, b""),
        (Method.OPTIONS, b""),
    ],
)
def test_every_method_arrives_as_itself(
    client: Client, emu: Emulator, receiver: Receiver, method: Method, body: bytes
) -> None:
    queue = make_queue(client)
    client.create_task(
        parent=queue.name,
        task={"http_request": {"url": receiver.url, "http_method": method, "body": body}},
    )
    (attempt,) = emu.wait_for_attempts(1)
    assert attempt.method == method.name
    request = receiver.requests[0]
    assert request["method"] == method.name
    assert request["body"] == body


def test_caller_service_headers_are_overridden(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    queue = make_queue(client, "real")
    client.create_task(
        parent=queue.name,
        task={
            "http_request": {
                "url": receiver.url,
                "headers": {"x-cloudtasks-queuename": "fake", "Authorization": "Basic abc"},
            }
        },
    )
    emu.wait_for_attempts(1)
    headers = receiver.requests[0]["headers"]
    assert headers["x-cloudtasks-queuename"] == "real"
    assert headers["authorization"] == "Basic abc"  # passed through without a token config


def test_queue_http_target_overrides_apply(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    queue = make_queue(
        client,
        "routed",
        http_target={
            "uri_override": {
                "scheme": tasks_v2.UriOverride.Scheme.HTTP,
                "host": "127.0.0.1",
                "port": receiver.port,
                "path_override": {"path": "/override"},
                "query_override": {"query_params": "q=1"},
            },
            "http_method": Method.PUT,
            "header_overrides": [
                {"header": {"key": "X-Team", "value": "queue"}},
                {"header": {"key": "X-New", "value": "added"}},
            ],
        },
    )
    client.create_task(
        parent=queue.name,
        task={
            "http_request": {
                "url": "https://elsewhere.invalid:9/original?z=9",
                "headers": {"x-team": "task"},
                "body": b"kept",
            }
        },
    )
    (attempt,) = emu.wait_for_attempts(1)
    assert attempt.url == f"{receiver.url}/override?q=1"
    request = receiver.requests[0]
    assert request["method"] == "PUT"
    assert request["path"] == "/override?q=1"
    assert request["body"] == b"kept"
    assert request["headers"]["x-team"] == "queue"
    assert request["headers"]["x-new"] == "added"


def test_uri_override_if_not_exists_fills_only_missing_parts(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    queue = make_queue(
        client,
        "fill",
        http_target={
            "uri_override": {
                "host": "127.0.0.1",
                "port": receiver.port,
                "path_override": {"path": "/default-path"},
                "uri_override_enforce_mode": IF_NOT_EXISTS,
            }
        },
    )
    client.create_task(parent=queue.name, task={"http_request": {"url": f"{receiver.url}/own"}})
    client.create_task(parent=queue.name, task={"http_request": {"url": f"{receiver.url}/"}})
    emu.wait_for_attempts(2)
    assert sorted(r["path"] for r in receiver.requests) == ["/default-path", "/own"]


def test_queue_method_override_to_get_drops_the_body(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    queue = make_queue(client, "getter", http_target={"http_method": Method.GET})
    client.create_task(
        parent=queue.name, task={"http_request": {"url": receiver.url, "body": b"x"}}
    )
    emu.wait_for_attempts(1)
    assert receiver.requests[0]["method"] == "GET"
    assert receiver.requests[0]["body"] == b""


def test_redirects_are_followed_within_one_attempt(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    queue = make_queue(client)
    task = client.create_task(
        parent=queue.name, task={"http_request": {"url": f"{receiver.url}/redirect/10"}}
    )
    (settled,) = emu.wait_for_attempts(1)
    assert settled.status == 200
    assert len(receiver.requests) == 11
    assert receiver.requests[-1]["path"] == "/done"
    with pytest.raises(exceptions.NotFound):
        client.get_task(name=task.name)


def test_more_than_ten_redirects_fail_the_attempt(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    queue = make_queue(client, **fast_retries(max_attempts=1))
    client.create_task(
        parent=queue.name, task={"http_request": {"url": f"{receiver.url}/redirect/11"}}
    )
    (settled,) = emu.wait_for_attempts(1)
    assert settled.status is None
    assert settled.error is not None
    assert "redirects" in settled.error
