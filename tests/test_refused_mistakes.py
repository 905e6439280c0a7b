"""Mistakes the real service refuses, refused the same way over gRPC and REST: an IAM
policy version that does not exist, wildcard permissions, a header that cannot be sent."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import tasks_v2

from support import PARENT, Client, expect_error, queue_path


@pytest.mark.parametrize("version", [2, 4, -1])
def test_set_iam_policy_refuses_a_version_iam_does_not_have(
    client: Client, queue: tasks_v2.Queue, version: int
) -> None:
    with expect_error(
        client, exceptions.InvalidArgument, f"policy.version must be 0, 1 or 3, got {version}."
    ):
        client.set_iam_policy(request={"resource": queue.name, "policy": {"version": version}})
    assert client.get_iam_policy(resource=queue.name).version == 0  # nothing was stored


@pytest.mark.parametrize("version", [0, 1, 3])
def test_set_iam_policy_takes_the_versions_iam_has(
    client: Client, queue: tasks_v2.Queue, version: int
) -> None:
    policy = client.set_iam_policy(request={"resource": queue.name, "policy": {"version": version}})
    assert policy.version == version


@pytest.mark.parametrize("wildcard", ["*", "cloudtasks.*", "cloudtasks.tasks.*"])
def test_test_iam_permissions_refuses_wildcards(
    client: Client, queue: tasks_v2.Queue, wildcard: str
) -> None:
    with expect_error(
        client,
        exceptions.InvalidArgument,
        "Permissions with wildcards (such as '*' or 'cloudtasks.*') are not allowed, "
        f"got {wildcard!r}.",
    ):
        client.test_iam_permissions(
            request={"resource": queue.name, "permissions": ["cloudtasks.tasks.create", wildcard]}
        )


@pytest.mark.parametrize(
    ("task", "message"),
    [
        (
            {"http_request": {"url": "http://127.0.0.1:9/", "headers": {"X-A": "a\r\nX-B: b"}}},
            "HttpRequest.headers[X-A] must not contain CR, LF or NUL (the request could not "
            "be sent).",
        ),
        (
            {"http_request": {"url": "http://127.0.0.1:9/", "headers": {"X-A": "a\nb"}}},
            "HttpRequest.headers[X-A] must not contain CR, LF or NUL (the request could not "
            "be sent).",
        ),
        (
            {"app_engine_http_request": {"headers": {"X-A": "a\x00b"}}},
            "AppEngineHttpRequest.headers[X-A] must not contain CR, LF or NUL (the request "
            "could not be sent).",
        ),
        (
            {"http_request": {"url": "http://127.0.0.1:9/", "headers": {"Bad Name": "v"}}},
            "HttpRequest.headers has a header name HTTP does not allow: 'Bad Name'.",
        ),
    ],
    ids=["crlf", "lf", "nul-app-engine", "space-in-name"],
)
def test_a_header_that_cannot_be_sent_is_refused_at_create(
    client: Client, queue: tasks_v2.Queue, task: dict, message: str
) -> None:
    with expect_error(client, exceptions.InvalidArgument, message):
        client.create_task(parent=queue.name, task=task)
    assert list(client.list_tasks(parent=queue.name)) == []


def test_a_queue_header_override_that_cannot_be_sent_is_refused(client: Client) -> None:
    queue = {
        "name": queue_path("overrides"),
        "http_target": {"header_overrides": [{"header": {"key": "X-A", "value": "a\r\nb"}}]},
    }
    with expect_error(
        client,
        exceptions.InvalidArgument,
        "http_target.header_overrides[X-A] must not contain CR, LF or NUL (the request could "
        "not be sent).",
    ):
        client.create_queue(parent=PARENT, queue=queue)
