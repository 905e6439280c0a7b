"""Delivery through the real client: requests, headers, outcomes, schedules and limits.

Every task is created with the real client and lands on a local aiohttp handler; time
moves with the emulator's virtual clock, and waits are on events, never sleeps.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import requests
from google.api_core import exceptions
from google.auth.transport import requests as google_requests
from google.cloud import tasks_v2
from google.oauth2 import id_token
from google.protobuf import duration_pb2, field_mask_pb2

from emulator import errors
from emulator.dispatch.request import epoch_seconds
from emulator.store.names import QueueName

from support import LOCATION, PARENT, PROJECT, queue_path

Client = tasks_v2.CloudTasksClient
Method = tasks_v2.HttpMethod
FULL = tasks_v2.Task.View.FULL
IF_NOT_EXISTS = tasks_v2.UriOverride.UriOverrideEnforceMode.IF_NOT_EXISTS


def _duration(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromTimedelta(timedelta(seconds=seconds))
    return d


def make_queue(client: Client, queue_id: str = "d", **config: Any) -> tasks_v2.Queue:
    return client.create_queue(parent=PARENT, queue={"name": queue_path(queue_id), **config})


def fast_retries(**extra: Any) -> dict[str, Any]:
    """Retry config with no backoff, so retries follow at once."""
    return {"retry_config": {"min_backoff": _duration(0), "max_backoff": _duration(0), **extra}}


def get_full(client: Client, name: str) -> tasks_v2.Task:
    return client.get_task(request={"name": name, "response_view": FULL})


def raw_header_names(request: dict[str, Any]) -> list[str]:
    return [k.decode() for k, _ in request["headers"]]


# -- the request ----------------------------------------------------------------------


def test_http_task_arrives_with_exact_headers_and_body(client: Client, harness, target) -> None:
    queue = make_queue(client, "orders")
    name = f"{queue.name}/tasks/order-7"
    task = client.create_task(
        parent=queue.name,
        task={
            "name": name,
            "http_request": {
                "url": f"{target.url}/work?x=1",
                "headers": {"X-Custom-Case": "Kept", "Content-Type": "application/json"},
                "body": b'{"a": 1}',
            },
        },
    )
    harness.wait_settled(1)
    (request,) = target.requests
    assert request["method"] == "POST"
    assert request["path"] == "/work?x=1"
    assert request["body"] == b'{"a": 1}'
    assert "X-Custom-Case" in raw_header_names(request)
    header = request["header"]
    assert header["x-custom-case"] == "Kept"
    assert header["content-type"] == "application/json"
    assert header["user-agent"] == "Google-Cloud-Tasks"
    assert header["x-cloudtasks-queuename"] == "orders"
    assert header["x-cloudtasks-taskname"] == "order-7"
    assert header["x-cloudtasks-taskretrycount"] == "0"
    assert header["x-cloudtasks-taskexecutioncount"] == "0"
    assert header["x-cloudtasks-tasketa"] == epoch_seconds(task.schedule_time)
    assert "x-cloudtasks-taskpreviousresponse" not in header
    assert "x-cloudtasks-taskretryreason" not in header
    assert "authorization" not in header
    assert header["content-length"] == "8"
    # Success deletes the task and reserves its name.
    with pytest.raises(exceptions.NotFound) as e:
        client.get_task(name=name)
    assert e.value.message == errors.TASK_TOMBSTONED
    with pytest.raises(exceptions.AlreadyExists):
        client.create_task(
            parent=queue.name, task={"name": name, "http_request": {"url": "http://x"}}
        )


def test_eta_is_epoch_seconds_with_microseconds(client: Client, harness, target) -> None:
    queue = make_queue(client)
    when = datetime(2001, 1, 1, tzinfo=UTC)  # in the past: due now, ETA = now
    task = client.create_task(
        parent=queue.name, task={"http_request": {"url": target.url}, "schedule_time": when}
    )
    harness.wait_settled(1)
    eta = target.requests[0]["header"]["x-cloudtasks-tasketa"]
    seconds, micros = eta.split(".")
    assert len(micros) == 6
    assert (
        datetime.fromtimestamp(int(seconds), UTC) + timedelta(microseconds=int(micros))
        == task.schedule_time
    )


def test_http_task_without_content_type_gets_none(client: Client, harness, target) -> None:
    queue = make_queue(client)
    client.create_task(parent=queue.name, task={"http_request": {"url": target.url, "body": b"x"}})
    harness.wait_settled(1)
    header = target.requests[0]["header"]
    assert "content-type" not in header
    assert "accept" not in header


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
    client: Client, harness, target, method: Method, body: bytes
) -> None:
    queue = make_queue(client)
    client.create_task(
        parent=queue.name,
        task={"http_request": {"url": target.url, "http_method": method, "body": body}},
    )
    harness.wait_settled(1)
    request = target.requests[0]
    assert request["method"] == method.name
    assert request["body"] == body


def test_caller_service_headers_are_overridden(client: Client, harness, target) -> None:
    queue = make_queue(client, "real")
    client.create_task(
        parent=queue.name,
        task={
            "http_request": {
                "url": target.url,
                "headers": {"x-cloudtasks-queuename": "fake", "Authorization": "Basic abc"},
            }
        },
    )
    harness.wait_settled(1)
    header = target.requests[0]["header"]
    assert header["x-cloudtasks-queuename"] == "real"
    assert header["authorization"] == "Basic abc"  # passed through without a token config


def test_queue_http_target_overrides_apply(client: Client, harness, target) -> None:
    port = int(target.url.rsplit(":", 1)[1])
    queue = make_queue(
        client,
        "routed",
        http_target={
            "uri_override": {
                "scheme": tasks_v2.UriOverride.Scheme.HTTP,
                "host": "127.0.0.1",
                "port": port,
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
    harness.wait_settled(1)
    request = target.requests[0]
    assert request["method"] == "PUT"
    assert request["path"] == "/override?q=1"
    assert request["body"] == b"kept"
    assert request["header"]["x-team"] == "queue"
    assert request["header"]["x-new"] == "added"


def test_uri_override_if_not_exists_fills_only_missing_parts(
    client: Client, harness, target
) -> None:
    port = int(target.url.rsplit(":", 1)[1])
    queue = make_queue(
        client,
        "fill",
        http_target={
            "uri_override": {
                "host": "127.0.0.1",
                "port": port,
                "path_override": {"path": "/default-path"},
                "uri_override_enforce_mode": IF_NOT_EXISTS,
            }
        },
    )
    client.create_task(parent=queue.name, task={"http_request": {"url": f"{target.url}/own"}})
    client.create_task(parent=queue.name, task={"http_request": {"url": f"{target.url}/"}})
    harness.wait_settled(2)
    assert sorted(r["path"] for r in target.requests) == ["/default-path", "/own"]


def test_queue_method_override_to_get_drops_the_body(client: Client, harness, target) -> None:
    queue = make_queue(client, "getter", http_target={"http_method": Method.GET})
    client.create_task(parent=queue.name, task={"http_request": {"url": target.url, "body": b"x"}})
    harness.wait_settled(1)
    assert target.requests[0]["method"] == "GET"
    assert target.requests[0]["body"] == b""


def test_redirects_are_followed_within_one_attempt(client: Client, harness, target) -> None:
    queue = make_queue(client)
    task = client.create_task(
        parent=queue.name, task={"http_request": {"url": f"{target.url}/redirect/10"}}
    )
    (settled,) = harness.wait_settled(1)
    assert settled.status == 200
    assert [r["path"] for r in target.requests][-1] == "/done"
    with pytest.raises(exceptions.NotFound):
        client.get_task(name=task.name)


def test_more_than_ten_redirects_fail_the_attempt(client: Client, harness, target) -> None:
    queue = make_queue(client, **fast_retries(max_attempts=1))
    client.create_task(
        parent=queue.name, task={"http_request": {"url": f"{target.url}/redirect/11"}}
    )
    (settled,) = harness.wait_settled(1)
    assert settled.status is None
    assert "redirects" in settled.error


# -- tokens ---------------------------------------------------------------------------


def _verify(token: str, audience: str, harness) -> dict[str, Any]:
    return dict(
        id_token.verify_token(
            token,
            google_requests.Request(),
            audience=audience,
            certs_url=f"{harness.server.http_url}/.well-known/jwks.json",
        )
    )


def test_oidc_token_verifies_with_google_auth(client: Client, harness, target) -> None:
    queue = make_queue(client)
    url = f"{target.url}/secure?x=1"
    email = "worker@test-project.iam.gserviceaccount.com"
    client.create_task(
        parent=queue.name,
        task={"http_request": {"url": url, "oidc_token": {"service_account_email": email}}},
    )
    harness.wait_settled(1)
    authorization = target.requests[0]["header"]["authorization"]
    assert authorization.startswith("Bearer ")
    claims = _verify(authorization.removeprefix("Bearer "), url, harness)
    assert claims["aud"] == url  # the full task URL, query included
    assert claims["email"] == email
    assert claims["email_verified"] is True
    assert claims["iss"] == harness.server.http_url
    assert claims["sub"] == claims["azp"]
    assert claims["sub"].isdigit()
    assert claims["exp"] - claims["iat"] == 3600


def test_oidc_token_with_audience_and_a_fresh_token_per_attempt(
    client: Client, harness, target
) -> None:
    target.responses = [500]
    queue = make_queue(client, **fast_retries())
    client.create_task(
        parent=queue.name,
        task={
            "http_request": {
                "url": target.url,
                "oidc_token": {"service_account_email": "a@b.iam", "audience": "my-service"},
            }
        },
    )
    harness.wait_settled(2)
    tokens = [r["header"]["authorization"].removeprefix("Bearer ") for r in target.requests]
    for token in tokens:
        assert _verify(token, "my-service", harness)["email"] == "a@b.iam"
    with pytest.raises(jwt.InvalidAudienceError):
        _verify(tokens[0], target.url, harness)


def test_openid_configuration_points_at_the_jwks(harness) -> None:
    config = requests.get(
        f"{harness.server.http_url}/.well-known/openid-configuration", timeout=10
    ).json()
    assert config["issuer"] == harness.server.http_url
    jwks = requests.get(config["jwks_uri"], timeout=10).json()
    (key,) = jwks["keys"]
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert "d" not in key  # never the private key
    assert "p" not in key


def test_oauth_token_is_a_recognisable_bearer(client: Client, harness, target) -> None:
    queue = make_queue(client)
    client.create_task(
        parent=queue.name,
        task={
            "http_request": {
                "url": target.url,
                "oauth_token": {"service_account_email": "sa@p.iam"},
            }
        },
    )
    harness.wait_settled(1)
    token = target.requests[0]["header"]["authorization"].removeprefix("Bearer ")
    assert token.startswith("ya29.cloud-tasks-emulator.")
    payload = token.removeprefix("ya29.cloud-tasks-emulator.")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["email"] == "sa@p.iam"
    assert claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"


def test_queue_level_token_overrides_the_task(client: Client, harness, target) -> None:
    queue = make_queue(
        client,
        "tokened",
        http_target={"oidc_token": {"service_account_email": "queue@p.iam", "audience": "aud"}},
    )
    client.create_task(
        parent=queue.name,
        task={"http_request": {"url": target.url, "oauth_token": {"service_account_email": "t@p"}}},
    )
    harness.wait_settled(1)
    token = target.requests[0]["header"]["authorization"].removeprefix("Bearer ")
    assert _verify(token, "aud", harness)["email"] == "queue@p.iam"


# -- outcomes and retries ---------------------------------------------------------------


def test_retry_headers_follow_the_recorded_sequence(client: Client, harness, target) -> None:
    target.responses = [503, 404, 200]
    queue = make_queue(client, **fast_retries())
    task = client.create_task(parent=queue.name, task={"http_request": {"url": target.url}})
    harness.wait_settled(3)
    seen = [
        (
            r["header"]["x-cloudtasks-taskretrycount"],
            r["header"]["x-cloudtasks-taskexecutioncount"],
            r["header"].get("x-cloudtasks-taskpreviousresponse"),
            r["header"].get("x-cloudtasks-taskretryreason"),
        )
        for r in target.requests
    ]
    assert seen == [("0", "0", None, None), ("1", "0", "503", ""), ("2", "1", "404", "")]
    with pytest.raises(exceptions.NotFound):
        client.get_task(name=task.name)


def test_counters_and_attempts_are_visible_while_retrying(client: Client, harness, target) -> None:
    target.responses = [503, 503]
    queue = make_queue(
        client, retry_config={"min_backoff": _duration(100), "max_backoff": _duration(100)}
    )
    task = client.create_task(parent=queue.name, task={"http_request": {"url": target.url}})
    harness.wait_settled(1)
    first = get_full(client, task.name)
    assert first.dispatch_count == 1
    assert first.response_count == 1
    assert first.first_attempt.dispatch_time == first.last_attempt.dispatch_time
    assert first.last_attempt.response_status.code == errors.Code.UNAVAILABLE
    assert "503" in first.last_attempt.response_status.message
    assert first.last_attempt.schedule_time == task.schedule_time
    assert first.schedule_time == first.last_attempt.response_time + timedelta(seconds=100)
    listed = list(client.list_tasks(request={"parent": queue.name, "response_view": FULL}))
    assert listed[0].dispatch_count == 1
    harness.advance(100)
    harness.wait_settled(2)
    second = get_full(client, task.name)
    assert second.dispatch_count == 2
    assert second.response_count == 2
    assert second.first_attempt.dispatch_time == first.first_attempt.dispatch_time
    assert second.last_attempt.dispatch_time > first.last_attempt.dispatch_time


@pytest.mark.parametrize(
    ("config", "delays"),
    [
        # Table A: the proto's example.
        ({"min": 10, "max": 300, "doublings": 3}, [10, 20, 40, 80, 160, 240, 300, 300, 300]),
        # Table B: queue defaults (cap reached while doubling).
        (
            {},
            [
                0.1,
                0.2,
                0.4,
                0.8,
                1.6,
                3.2,
                6.4,
                12.8,
                25.6,
                51.2,
                102.4,
                204.8,
                409.6,
                819.2,
                1638.4,
                3276.8,
                3600,
                3600,
            ],
        ),
        # Table C: linear only.
        ({"min": 1, "max": 10, "doublings": 0}, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 10]),
        # Table D.
        ({"min": 1, "max": 60, "doublings": 5}, [1, 2, 4, 8, 16, 32, 60, 60]),
    ],
    ids=["table-A", "table-B", "table-C", "table-D"],
)
def test_backoff_follows_the_worked_tables(
    client: Client, harness, target, config: dict[str, float], delays: list[float]
) -> None:
    target.responses = [503] * len(delays)
    queue = make_queue(client, "backoff")
    if config:
        client.update_queue(
            queue={
                "name": queue.name,
                "retry_config": {
                    "min_backoff": _duration(config["min"]),
                    "max_backoff": _duration(config["max"]),
                    "max_doublings": config["doublings"],
                },
            },
            update_mask=field_mask_pb2.FieldMask(
                paths=[
                    "retry_config.min_backoff",
                    "retry_config.max_backoff",
                    "retry_config.max_doublings",
                ]
            ),
        )
    task = client.create_task(parent=queue.name, task={"http_request": {"url": target.url}})
    observed = []
    for attempt, _ in enumerate(delays, start=1):
        harness.wait_settled(attempt)
        current = get_full(client, task.name)
        delay = current.schedule_time - current.last_attempt.response_time
        observed.append(delay.total_seconds())
        harness.advance(delay.total_seconds())
    assert observed == pytest.approx(delays, abs=1e-6)


def test_retry_after_is_honoured(client: Client, harness, target) -> None:
    target.responses = [(429, {"Retry-After": "120"}), (503, {"Retry-After": "0"})]
    queue = make_queue(
        client, retry_config={"min_backoff": _duration(1), "max_backoff": _duration(10)}
    )
    task = client.create_task(parent=queue.name, task={"http_request": {"url": target.url}})
    harness.wait_settled(1)
    current = get_full(client, task.name)
    assert current.schedule_time - current.last_attempt.response_time == timedelta(seconds=120)
    harness.advance(120)
    harness.wait_settled(2)
    current = get_full(client, task.name)
    # A shorter Retry-After does not cut the backoff.
    assert current.schedule_time - current.last_attempt.response_time == timedelta(seconds=2)


def _attempts_until_deleted(client: Client, harness, name: str, limit: int = 30) -> int:
    """Jump to each retry until the task is gone; the number of attempts it took."""
    for attempt in range(1, limit + 1):
        harness.wait_settled(attempt)
        try:
            current = get_full(client, name)
        except exceptions.NotFound as e:
            assert e.message == errors.TASK_TOMBSTONED  # noqa: PT017
            return len(harness.settled)
        if current.dispatch_count == attempt:  # not retried on its own meanwhile
            wait = (current.schedule_time - harness.clock.now()).total_seconds()
            harness.advance(max(wait, 0) + 0.001)
    raise AssertionError("the task was never deleted")


@pytest.mark.parametrize(
    ("retry", "attempts"),
    [
        ({"max_attempts": 3}, 3),
        ({"max_attempts": 1}, 1),
        # Both limits: 3 attempts are done at t=3s, but 60 s must pass too (§6.3 example).
        ({"max_attempts": 3, "max_retry_duration": 60, "min": 1}, 7),
        # Unlimited attempts, 5 s duration: attempts at 0, 1, 3, 7 s.
        ({"max_attempts": -1, "max_retry_duration": 5, "min": 1}, 4),
    ],
)
def test_retries_stop_by_the_rule(
    client: Client, harness, target, retry: dict[str, float], attempts: int
) -> None:
    target.responses = [500] * 50
    config: dict[str, Any] = {"max_attempts": retry["max_attempts"]}
    if "max_retry_duration" in retry:
        config["max_retry_duration"] = _duration(retry["max_retry_duration"])
    if "min" in retry:
        config["min_backoff"] = _duration(retry["min"])
    queue = make_queue(client, "stops", retry_config=config)
    task = client.create_task(parent=queue.name, task={"http_request": {"url": target.url}})
    assert _attempts_until_deleted(client, harness, task.name) == attempts
    assert len(target.requests) == attempts


def test_task_retry_config_overrides_the_queue(client: Client, harness, target) -> None:
    target.responses = [500] * 10
    queue = make_queue(client, retry_config={"min_backoff": _duration(10)})
    task = client.create_task(
        parent=queue.name,
        task={"http_request": {"url": target.url}, "retry_config": {"max_attempts": 2}},
    )
    assert _attempts_until_deleted(client, harness, task.name) == 2


def test_timeout_is_a_failed_attempt_without_a_response(client: Client, harness, target) -> None:
    target.hold = asyncio.Event()
    queue = make_queue(client, **fast_retries(max_attempts=1))
    task = client.create_task(
        parent=queue.name,
        task={"http_request": {"url": target.url}, "dispatch_deadline": _duration(15)},
    )
    target.wait_requests(1)
    harness.advance(15)  # past the deadline on the emulator's clock
    (settled,) = harness.wait_settled(1)
    assert settled.status is None
    assert "within 15s" in settled.error
    target.release()
    with pytest.raises(exceptions.NotFound):
        client.get_task(name=task.name)


def test_timeout_and_connection_errors_do_not_count_responses(
    client: Client, harness, target
) -> None:
    target.hold = asyncio.Event()
    queue = make_queue(
        client, retry_config={"min_backoff": _duration(100), "max_backoff": _duration(100)}
    )
    task = client.create_task(
        parent=queue.name,
        task={"http_request": {"url": target.url}, "dispatch_deadline": _duration(15)},
    )
    target.wait_requests(1)
    harness.advance(15)
    harness.wait_settled(1)
    timed_out = get_full(client, task.name)
    assert timed_out.dispatch_count == 1
    assert timed_out.response_count == 0
    assert timed_out.last_attempt.response_status.code == errors.Code.DEADLINE_EXCEEDED
    target.release()


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://127.0.0.1:9/refused", errors.Code.UNAVAILABLE),
        ("http://no-such-host.invalid/", errors.Code.UNAVAILABLE),
    ],
)
def test_unreachable_targets_are_failed_attempts(client: Client, harness, url: str, code) -> None:
    queue = make_queue(
        client, retry_config={"min_backoff": _duration(100), "max_backoff": _duration(100)}
    )
    task = client.create_task(parent=queue.name, task={"http_request": {"url": url}})
    (settled,) = harness.wait_settled(1)
    assert settled.status is None
    current = get_full(client, task.name)
    assert current.response_count == 0
    assert current.last_attempt.response_status.code == code
    assert current.schedule_time == current.last_attempt.response_time + timedelta(seconds=100)


def test_bad_url_at_dispatch_is_a_failed_attempt(client: Client, harness) -> None:
    queue = make_queue(
        client,
        "badhost",
        http_target={"uri_override": {"host": "bad host"}},
        **fast_retries(max_attempts=1),
    )
    task = client.create_task(parent=queue.name, task={"http_request": {"url": "http://ok/"}})
    (settled,) = harness.wait_settled(1)
    assert settled.status is None
    with pytest.raises(exceptions.NotFound):
        client.get_task(name=task.name)


# -- App Engine ---------------------------------------------------------------------------


def test_app_engine_task_goes_to_the_configured_host(client: Client, harness, target) -> None:
    harness.call(lambda: setattr(harness.server.dispatcher, "app_engine_url", target.url))
    target.responses = [503, 200]
    queue = make_queue(client, "ae", **fast_retries())
    client.create_task(
        parent=queue.name,
        task={
            "name": f"{queue.name}/tasks/ae-1",
            "app_engine_http_request": {"relative_uri": "/ae/handler?x=1", "body": b"{}"},
        },
    )
    harness.wait_settled(2)
    first, second = target.requests
    assert first["path"] == "/ae/handler?x=1"
    assert first["body"] == b"{}"
    header = first["header"]
    assert header["x-appengine-queuename"] == "ae"
    assert header["x-appengine-taskname"] == "ae-1"
    assert header["x-appengine-taskretrycount"] == "0"
    assert header["user-agent"] == "AppEngine-Google; (+http://code.google.com/appengine)"
    assert header["content-type"] == "application/octet-stream"
    assert "x-cloudtasks-queuename" not in header
    # App Engine counts a 503 as an execution, and names the retry reason.
    assert second["header"]["x-appengine-taskexecutioncount"] == "1"
    assert second["header"]["x-appengine-taskpreviousresponse"] == "503"
    assert second["header"]["x-appengine-taskretryreason"] == "App Error"


def test_app_engine_tasks_do_not_follow_redirects(client: Client, harness, target) -> None:
    harness.call(lambda: setattr(harness.server.dispatcher, "app_engine_url", target.url))
    queue = make_queue(client, **fast_retries(max_attempts=1))
    client.create_task(
        parent=queue.name, task={"app_engine_http_request": {"relative_uri": "/redirect/1"}}
    )
    (settled,) = harness.wait_settled(1)
    assert settled.status == 302
    assert len(target.requests) == 1


# -- queue state during dispatch -------------------------------------------------------


def test_paused_queue_holds_tasks_until_resumed(client: Client, harness, target) -> None:
    queue = make_queue(client)
    client.pause_queue(name=queue.name)
    task = client.create_task(parent=queue.name, task={"http_request": {"url": target.url}})
    harness.advance(3600)
    harness.call(lambda: None)
    assert get_full(client, task.name).dispatch_count == 0
    assert target.requests == []
    client.resume_queue(name=queue.name)
    harness.wait_settled(1)
    assert len(target.requests) == 1


def _in_flight_then(client: Client, harness, target, action) -> tasks_v2.Task:
    target.hold = asyncio.Event()
    target.responses = [503]
    queue = make_queue(client, **fast_retries())
    task = client.create_task(parent=queue.name, task={"http_request": {"url": target.url}})
    target.wait_requests(1)
    action(queue, task)
    target.release()
    (settled,) = harness.wait_settled(1)
    assert settled.status == 503
    harness.advance(600)  # any retry would be due by now
    return task


def test_purge_during_dispatch_does_not_reschedule(client: Client, harness, target) -> None:
    task = _in_flight_then(client, harness, target, lambda q, t: client.purge_queue(name=q.name))
    with pytest.raises(exceptions.NotFound):
        client.get_task(name=task.name)
    assert len(target.requests) == 1


def test_delete_task_in_flight_does_not_resurrect_it(client: Client, harness, target) -> None:
    task = _in_flight_then(client, harness, target, lambda q, t: client.delete_task(name=t.name))
    with pytest.raises(exceptions.NotFound) as e:
        client.get_task(name=task.name)
    assert e.value.message == errors.TASK_TOMBSTONED
    assert len(target.requests) == 1


def test_delete_queue_during_dispatch(client: Client, harness, target) -> None:
    task = _in_flight_then(client, harness, target, lambda q, t: client.delete_queue(name=q.name))
    with pytest.raises(exceptions.NotFound):
        client.get_task(name=task.name)
    assert len(target.requests) == 1


# -- RunTask ----------------------------------------------------------------------------


def test_run_task_dispatches_a_paused_task_at_once(client: Client, harness, target) -> None:
    queue = make_queue(client)
    client.pause_queue(name=queue.name)
    task = client.create_task(
        parent=queue.name,
        task={
            "http_request": {"url": target.url},
            "schedule_time": harness.clock.now() + timedelta(days=1),
        },
    )
    ran = client.run_task(name=task.name)
    assert ran.dispatch_count == 1
    assert "dispatch_time" in ran.last_attempt
    assert "response_time" not in ran.last_attempt
    harness.wait_settled(1)
    with pytest.raises(exceptions.NotFound):
        client.get_task(name=task.name)


def test_run_task_failure_reschedules_from_the_run_time(client: Client, harness, target) -> None:
    target.responses = [500]
    queue = make_queue(
        client, retry_config={"min_backoff": _duration(30), "max_backoff": _duration(30)}
    )
    client.pause_queue(name=queue.name)
    task = client.create_task(parent=queue.name, task={"http_request": {"url": target.url}})
    ran = client.run_task(name=task.name)
    harness.wait_settled(1)
    current = get_full(client, task.name)
    assert current.schedule_time == ran.last_attempt.dispatch_time + timedelta(seconds=30)
    assert current.dispatch_count == 1


def test_run_task_ignores_the_rate_limit(client: Client, harness, target) -> None:
    queue = make_queue(client, rate_limits={"max_dispatches_per_second": 0.001})
    tasks = [
        client.create_task(parent=queue.name, task={"http_request": {"url": target.url}})
        for _ in range(3)
    ]
    harness.wait_settled(1)  # the one token of the bucket
    for task in tasks:
        with contextlib.suppress(exceptions.NotFound):  # the bucket's one may be done
            client.run_task(name=task.name)
    harness.wait_settled(3)


def test_run_missing_task_is_not_found(client: Client) -> None:
    queue = make_queue(client)
    with pytest.raises(exceptions.NotFound):
        client.run_task(name=f"{queue.name}/tasks/none")


# -- rate and concurrency ---------------------------------------------------------------


def _check_bucket(times: list[datetime], rate: float, burst: int) -> None:
    """No prefix of the dispatches used more tokens than the bucket could hold."""
    start = times[0]
    for index, when in enumerate(sorted(times)):
        allowed = burst + rate * (when - start).total_seconds()
        assert index + 1 <= allowed + 1e-6, (index, when, allowed)


def test_fractional_rate_spaces_dispatches(client: Client, harness, target) -> None:
    queue = make_queue(client, rate_limits={"max_dispatches_per_second": 0.5})
    assert queue.rate_limits.max_burst_size == 1
    for _ in range(4):
        client.create_task(parent=queue.name, task={"http_request": {"url": target.url}})
    for count in range(1, 5):
        harness.wait_settled(count)
        harness.advance(2)
    times = [entry.dispatch_time for entry in harness.server.store.history]
    _check_bucket(times, rate=0.5, burst=1)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert all(gap >= 2 - 1e-6 for gap in gaps), gaps


def test_burst_then_rate(client: Client, harness, target) -> None:
    queue = make_queue(client, rate_limits={"max_dispatches_per_second": 0.001})
    client.update_queue(
        queue={"name": queue.name, "rate_limits": {"max_dispatches_per_second": 5}},
        update_mask=field_mask_pb2.FieldMask(paths=["rate_limits.max_dispatches_per_second"]),
    )
    for _ in range(12):
        client.create_task(parent=queue.name, task={"http_request": {"url": target.url}})
    harness.wait_settled(12)
    times = [entry.dispatch_time for entry in harness.server.store.history]
    _check_bucket(times, rate=5, burst=5)


def test_concurrency_cap_limits_attempts_in_flight(client: Client, harness, target) -> None:
    target.hold = asyncio.Event()
    queue = make_queue(client, rate_limits={"max_concurrent_dispatches": 3})
    for _ in range(8):
        client.create_task(parent=queue.name, task={"http_request": {"url": target.url}})
    target.wait_requests(3)
    harness.call(lambda: None)
    dispatched = [t.dispatch_count for t in client.list_tasks(parent=queue.name)]
    assert sorted(dispatched) == [0] * 5 + [1] * 3
    assert (
        harness.call(lambda: harness.server.dispatcher.schedulers[queue_key(queue)].in_flight) == 3
    )
    target.release()
    harness.wait_settled(8)
    assert target.max_in_flight == 3


def queue_key(queue: tasks_v2.Queue):
    return QueueName.parse(queue.name)


def test_rate_update_takes_effect_on_a_running_queue(client: Client, harness, target) -> None:
    queue = make_queue(client, rate_limits={"max_dispatches_per_second": 0.001})
    for _ in range(3):
        client.create_task(parent=queue.name, task={"http_request": {"url": target.url}})
    harness.wait_settled(1)
    assert len(list(client.list_tasks(parent=queue.name))) == 2
    client.update_queue(
        queue={"name": queue.name, "rate_limits": {"max_dispatches_per_second": 500}},
        update_mask=field_mask_pb2.FieldMask(paths=["rate_limits.max_dispatches_per_second"]),
    )
    harness.wait_settled(3)


def test_scheduled_task_waits_for_its_time(client: Client, harness, target) -> None:
    queue = make_queue(client)
    later = harness.clock.now() + timedelta(hours=24)
    task = client.create_task(
        parent=queue.name, task={"http_request": {"url": target.url}, "schedule_time": later}
    )
    harness.advance(24 * 3600 - 60)
    harness.call(lambda: None)
    assert get_full(client, task.name).dispatch_count == 0
    harness.advance(60)
    (settled,) = harness.wait_settled(1)
    assert settled.dispatch_time >= later


def test_tasks_run_in_schedule_order(client: Client, harness, target) -> None:
    queue = make_queue(client, rate_limits={"max_concurrent_dispatches": 1})
    now = harness.clock.now()
    for minutes in (30, 10, 20):
        client.create_task(
            parent=queue.name,
            task={
                "http_request": {"url": f"{target.url}/{minutes}"},
                "schedule_time": now + timedelta(minutes=minutes),
            },
        )
    harness.advance(3600)
    harness.wait_settled(3)
    assert [r["path"] for r in target.requests] == ["/10", "/20", "/30"]


def test_a_hanging_target_does_not_stall_another_queue(client: Client, harness, target) -> None:
    target.hold = asyncio.Event()
    stuck = make_queue(client, "stuck")
    client.create_task(parent=stuck.name, task={"http_request": {"url": f"{target.url}/hang"}})
    target.wait_requests(1)
    other = make_queue(client, "other")
    task = client.create_task(
        parent=other.name, task={"http_request": {"url": "http://127.0.0.1:9/refused"}}
    )
    (settled,) = harness.wait_settled(1)
    assert settled.queue == "other"
    assert get_full(client, task.name).dispatch_count == 1
    target.release()


def test_one_log_line_per_attempt(client: Client, harness, target, caplog) -> None:
    caplog.set_level(logging.INFO, logger="emulator.dispatch")
    target.responses = [503]
    queue = make_queue(client, "logged", **fast_retries())
    client.create_task(
        parent=queue.name,
        task={"name": f"{queue.name}/tasks/t1", "http_request": {"url": target.url}},
    )
    harness.wait_settled(2)
    lines = [r.getMessage() for r in caplog.records if r.name == "emulator.dispatch"]
    assert len(lines) == 2
    assert lines[0].startswith(
        f"project={PROJECT} location={LOCATION} queue=logged task=t1 attempt=1 status=503 latency="
    )
    assert "next=" in lines[0]
    assert lines[1].startswith(
        f"project={PROJECT} location={LOCATION} queue=logged task=t1 attempt=2 status=200 latency="
    )
    assert lines[1].endswith("deleted (succeeded)")
