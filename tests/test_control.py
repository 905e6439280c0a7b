"""The control surface three ways: `Emulator` in Python, HTTP /_emulator/, gRPC service.

These tests use the package's own pytest fixtures (`cloud_tasks_*`), as a user would.
"""

from __future__ import annotations

import base64
import itertools
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import requests
from google.protobuf import duration_pb2

from emulator import Emulator, control_pb2
from emulator.core import errors
from emulator.core.clock import utc_now

from support import Receiver


@pytest.fixture
def handler_url(receiver: Receiver) -> str:
    return f"{receiver.url}/work"


def _task(url: str, **fields: object) -> dict[str, object]:
    return {"http_request": {"url": url, "body": b"payload"}, **fields}


# -- Python -------------------------------------------------------------------------------


def test_attempts_record_every_field(
    cloud_tasks_emulator: Emulator, cloud_tasks_client, cloud_tasks_queue, handler_url
) -> None:
    queue = cloud_tasks_queue("inspect")
    task = cloud_tasks_client.create_task(parent=queue, task=_task(handler_url))
    cloud_tasks_emulator.wait_until_idle()
    (attempt,) = cloud_tasks_emulator.attempts()
    assert attempt.queue == "inspect"
    assert attempt.task == task.name.rsplit("/", 1)[1]
    assert attempt.attempt == 1
    assert attempt.method == "POST"
    assert attempt.url == handler_url
    assert attempt.headers["X-CloudTasks-QueueName"] == "inspect"
    assert attempt.body == b"payload"
    assert attempt.status == 200
    assert attempt.error is None
    assert attempt.schedule_time <= attempt.dispatch_time <= attempt.response_time
    assert cloud_tasks_emulator.attempts(queue="other") == []
    assert cloud_tasks_emulator.attempts(queue=queue, task=task.name) == [attempt]
    assert (attempt.project, attempt.location) == ("local-project", "us-central1")  # the defaults
    assert attempt.queue_name == queue
    assert attempt.task_name == task.name


def test_attempts_tell_same_named_queues_of_two_projects_apart(
    cloud_tasks_emulator: Emulator, cloud_tasks_client, handler_url
) -> None:
    names = []
    for project in ("shop", "blog"):
        parent = f"projects/{project}/locations/europe-west1"
        queue = cloud_tasks_client.create_queue(
            parent=parent, queue={"name": f"{parent}/queues/emails"}
        )
        cloud_tasks_client.create_task(parent=queue.name, task=_task(handler_url))
        names.append(queue.name)
    cloud_tasks_emulator.wait_until_idle()
    assert {a.project for a in cloud_tasks_emulator.attempts(queue="emails")} == {"shop", "blog"}
    (shop,) = cloud_tasks_emulator.attempts(queue=names[0])
    assert (shop.project, shop.location, shop.queue) == ("shop", "europe-west1", "emails")
    over_http = requests.get(
        f"{cloud_tasks_emulator.http_url}/_emulator/attempts",
        params={"queue": names[1]},
        timeout=10,
    ).json()["attempts"]
    assert [(a["project"], a["location"]) for a in over_http] == [("blog", "europe-west1")]
    task = over_http[0]["task"]
    assert [a.project for a in cloud_tasks_emulator.attempts(task=f"{names[1]}/tasks/{task}")] == [
        "blog"
    ]


def test_advance_fires_everything_due_in_order(
    cloud_tasks_emulator: Emulator, cloud_tasks_client, cloud_tasks_queue, handler_url
) -> None:
    queue = cloud_tasks_queue("later")
    start = cloud_tasks_emulator.now
    for hours in (3, 1, 2, 30):
        cloud_tasks_client.create_task(
            parent=queue,
            task=_task(f"{handler_url}?h={hours}", schedule_time=start + timedelta(hours=hours)),
        )
    now = cloud_tasks_emulator.advance(timedelta(hours=24))
    assert now >= start + timedelta(hours=24)
    fired = cloud_tasks_emulator.attempts()
    assert [a.url.rsplit("=", 1)[1] for a in fired] == ["1", "2", "3"]
    for attempt in fired:
        assert attempt.dispatch_time >= attempt.schedule_time
    cloud_tasks_emulator.advance(to=start + timedelta(hours=30))
    assert len(cloud_tasks_emulator.attempts()) == 4


def test_advance_runs_retries_that_fall_due_on_the_way(
    cloud_tasks_emulator: Emulator, cloud_tasks_client, cloud_tasks_queue
) -> None:
    queue = cloud_tasks_queue(
        "retrying",
        retry_config={"max_attempts": 5, "min_backoff": timedelta(seconds=60)},
    )
    cloud_tasks_client.create_task(parent=queue, task=_task("http://127.0.0.1:9/refused"))
    cloud_tasks_emulator.advance(timedelta(hours=1))
    attempts = cloud_tasks_emulator.attempts()
    assert [a.attempt for a in attempts] == [1, 2, 3, 4, 5]
    assert all(a.error and a.status is None for a in attempts)
    assert list(cloud_tasks_client.list_tasks(parent=queue)) == []


def test_reset_leaves_nothing_behind(
    cloud_tasks_emulator: Emulator, cloud_tasks_client, cloud_tasks_queue, handler_url
) -> None:
    queue = cloud_tasks_queue("old")
    name = f"{queue}/tasks/named"
    cloud_tasks_client.create_task(parent=queue, task=_task(handler_url, name=name))
    cloud_tasks_emulator.wait_until_idle()
    cloud_tasks_emulator.advance(timedelta(days=3))
    cloud_tasks_emulator.reset()
    assert list(cloud_tasks_client.list_queues(parent=cloud_tasks_emulator.parent)) == []
    assert cloud_tasks_emulator.attempts() == []
    assert abs(cloud_tasks_emulator.now - utc_now()) < timedelta(minutes=1)  # real time again
    # The task name's tombstone is gone too.
    queue = cloud_tasks_queue("old")
    assert cloud_tasks_client.create_task(parent=queue, task=_task(handler_url, name=name))


def test_wait_until_idle_ignores_future_tasks_and_times_out_with_reasons(
    cloud_tasks_emulator: Emulator, cloud_tasks_client, cloud_tasks_queue
) -> None:
    queue = cloud_tasks_queue("idle", rate_limits={"max_dispatches_per_second": 0.001})
    later = cloud_tasks_emulator.now + timedelta(hours=1)
    cloud_tasks_client.create_task(
        parent=queue, task=_task("http://127.0.0.1:9/x", schedule_time=later)
    )
    cloud_tasks_emulator.wait_until_idle()  # a future task does not count
    for _ in range(2):  # the bucket holds one token: the second task waits for the rate
        cloud_tasks_client.create_task(parent=queue, task=_task("http://127.0.0.1:9/x"))
    with pytest.raises(errors.ApiError) as e:
        cloud_tasks_emulator.wait_until_idle(timeout=0.2)
    assert e.value.code == errors.Code.DEADLINE_EXCEEDED
    assert "queue idle has due tasks waiting for its rate limit" in e.value.message


def test_real_clock_refuses_to_advance() -> None:
    with Emulator(clock="real") as emulator:
        with pytest.raises(errors.FailedPrecondition) as e:
            emulator.advance(60)
        assert "--clock virtual" in e.value.message
        requests_ok = requests.get(f"{emulator.http_url}/_emulator/clock", timeout=10).json()
        assert requests_ok["virtual"] is False


def test_start_up_queues_come_back_after_reset() -> None:
    with Emulator(
        queues=["plain", {"name": "fast", "rate_limits": {"max_dispatches_per_second": 5}}]
    ) as emulator:
        client = emulator.client()
        client.delete_queue(name=emulator.queue_name("plain"))
        emulator.reset()
        queues = {q.name.rsplit("/", 1)[1]: q for q in client.list_queues(parent=emulator.parent)}
        assert sorted(queues) == ["fast", "plain"]
        assert queues["fast"].rate_limits.max_dispatches_per_second == 5


def test_start_up_queues_obey_the_api_limits() -> None:
    with pytest.raises(errors.InvalidArgument) as e:
        Emulator(queues=[{"name": "fast", "rate_limits": {"max_dispatches_per_second": 900}}])
    assert "max_dispatches_per_second" in e.value.message


async def test_async_emulator_on_the_callers_loop(handler_url) -> None:
    async with Emulator() as emulator:
        client = emulator.async_client()
        queue = await client.create_queue(
            parent=emulator.parent, queue={"name": emulator.queue_name("aq")}
        )
        when = emulator.now + timedelta(hours=5)
        await client.create_task(parent=queue.name, task=_task(handler_url, schedule_time=when))
        await emulator.await_until_idle()
        assert emulator.attempts() == []
        with pytest.raises(RuntimeError, match="aadvance"):
            emulator.advance(60)
        await emulator.aadvance(timedelta(hours=5))
        assert [a.status for a in emulator.attempts()] == [200]


async def test_async_helpers_work_against_the_session_emulator(
    cloud_tasks_emulator: Emulator, handler_url
) -> None:
    client = cloud_tasks_emulator.async_client()
    queue = await client.create_queue(
        parent=cloud_tasks_emulator.parent, queue={"name": cloud_tasks_emulator.queue_name("s")}
    )
    await client.create_task(parent=queue.name, task=_task(handler_url))
    await cloud_tasks_emulator.await_until_idle()
    await cloud_tasks_emulator.aadvance(1)
    assert [a.status for a in cloud_tasks_emulator.attempts()] == [200]


# -- HTTP ---------------------------------------------------------------------------------


def test_http_control_endpoints(
    cloud_tasks_emulator: Emulator, cloud_tasks_client, cloud_tasks_queue, handler_url
) -> None:
    base = f"{cloud_tasks_emulator.http_url}/_emulator"
    queue = cloud_tasks_queue("h")
    start = cloud_tasks_emulator.now
    cloud_tasks_client.create_task(
        parent=queue, task=_task(handler_url, schedule_time=start + timedelta(hours=2))
    )
    assert requests.post(f"{base}/wait-until-idle", json={"timeout": 5}, timeout=10).json() == {}
    assert requests.get(f"{base}/attempts", timeout=10).json() == {"attempts": []}
    advanced = requests.post(f"{base}/advance", json={"seconds": 7200}, timeout=30).json()
    assert datetime.fromisoformat(advanced["now"].replace("Z", "+00:00")) >= start + timedelta(
        hours=2
    )
    (attempt,) = requests.get(f"{base}/attempts", params={"queue": "h"}, timeout=10).json()[
        "attempts"
    ]
    assert attempt["status"] == 200
    assert base64.b64decode(attempt["body"]) == b"payload"
    assert attempt["headers"]["X-CloudTasks-QueueName"] == "h"
    assert set(attempt) == {
        "project",
        "location",
        "queue",
        "task",
        "attempt",
        "method",
        "url",
        "headers",
        "body",
        "status",
        "error",
        "response_body",
        "schedule_time",
        "dispatch_time",
        "response_time",
        "latency_seconds",
        "result",
        "next_attempt",
        "backoff",
    }
    assert attempt["result"] == "succeeded"
    assert attempt["next_attempt"] is None
    assert attempt["latency_seconds"] >= 0
    to = (start + timedelta(days=1)).isoformat()
    assert requests.post(f"{base}/advance", json={"to": to}, timeout=30).status_code == 200
    assert requests.post(f"{base}/reset", timeout=10).json() == {}
    assert list(cloud_tasks_client.list_queues(parent=cloud_tasks_emulator.parent)) == []


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("advance", b"{not json", 400, "INVALID_ARGUMENT"),
        ("advance", b'{"seconds": -5}', 400, "INVALID_ARGUMENT"),
        ("advance", b"{}", 400, "INVALID_ARGUMENT"),
        ("advance", b'{"to": "yesterday"}', 400, "INVALID_ARGUMENT"),
        ("advance", b'{"to": "2001-01-01T00:00:00Z"}', 400, "INVALID_ARGUMENT"),
        ("wait-until-idle", b'{"timeout": "soon"}', 400, "INVALID_ARGUMENT"),
        ("advance", b"[1]", 400, "INVALID_ARGUMENT"),
        ("advance", b'{"to": "9999-12-31T00:00:00Z"}', 400, "INVALID_ARGUMENT"),
        ("advance", b'{"seconds": 100000000000000000000}', 400, "INVALID_ARGUMENT"),
    ],
)
def test_http_control_errors_are_json(
    cloud_tasks_emulator: Emulator, path: str, body: bytes, status: int, code: str
) -> None:
    response = requests.post(
        f"{cloud_tasks_emulator.http_url}/_emulator/{path}", data=body, timeout=10
    )
    assert response.status_code == status
    error = response.json()["error"]
    assert error["status"] == code
    assert error["code"] == status
    assert error["message"]


# -- gRPC ---------------------------------------------------------------------------------


def test_grpc_control_service(
    cloud_tasks_emulator: Emulator, cloud_tasks_client, cloud_tasks_queue, handler_url
) -> None:
    messages = vars(control_pb2)
    channel = grpc.insecure_channel(cloud_tasks_emulator.grpc_target)

    def call(rpc: str, request: object, response: str) -> object:
        method = channel.unary_unary(
            f"/{control_pb2.SERVICE}/{rpc}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=messages[response].FromString,
        )
        return method(request)

    queue = cloud_tasks_queue("g")
    start = cloud_tasks_emulator.now
    cloud_tasks_client.create_task(
        parent=queue, task=_task(handler_url, schedule_time=start + timedelta(minutes=30))
    )
    call("WaitUntilIdle", messages["WaitUntilIdleRequest"](), "WaitUntilIdleResponse")
    advanced = call(
        "Advance",
        messages["AdvanceRequest"](by=duration_pb2.Duration(seconds=1800)),
        "AdvanceResponse",
    )
    assert advanced.now.ToDatetime(tzinfo=UTC) >= start + timedelta(minutes=30)
    listed = call(
        "ListAttempts", messages["ListAttemptsRequest"](queue="g"), "ListAttemptsResponse"
    )
    (attempt,) = listed.attempts
    assert attempt.status == 200
    assert attempt.body == b"payload"
    assert attempt.HasField("response_time")
    assert not attempt.HasField("error")
    assert attempt.result == "succeeded"
    assert not attempt.HasField("next_attempt")
    assert attempt.HasField("latency_seconds")
    with pytest.raises(grpc.RpcError) as e:
        call("Advance", messages["AdvanceRequest"](), "AdvanceResponse")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    call("Reset", messages["ResetRequest"](), "ResetResponse")
    assert list(cloud_tasks_client.list_queues(parent=cloud_tasks_emulator.parent)) == []
    channel.close()


def test_grpc_control_on_a_real_clock_is_failed_precondition() -> None:
    with Emulator(clock="real") as emulator:
        messages = vars(control_pb2)
        channel = grpc.insecure_channel(emulator.grpc_target)
        advance = channel.unary_unary(
            f"/{control_pb2.SERVICE}/Advance",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=messages["AdvanceResponse"].FromString,
        )
        with pytest.raises(grpc.RpcError) as e:
            advance(messages["AdvanceRequest"](by=duration_pb2.Duration(seconds=5)))
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        channel.close()


# -- advance past a handler that never answers ---------------------------------------------


def _hanging_task(emulator: Emulator, receiver: Receiver) -> str:
    receiver.hold()  # accepts each request and never answers (until released)
    client = emulator.client()
    queue = client.create_queue(
        parent=emulator.parent, queue={"name": emulator.queue_name("hangs")}
    )
    task = client.create_task(
        parent=queue.name,
        task={
            "http_request": {"url": f"{receiver.url}/hang"},
            "dispatch_deadline": duration_pb2.Duration(seconds=15),
        },
    )
    receiver.wait_for(1)
    return str(task.name)


def _check_timed_out_on_the_virtual_clock(emulator: Emulator, name: str) -> None:
    attempts = emulator.attempts(task=name)
    settled = [a for a in attempts if a.response_time is not None]
    assert len(settled) >= 5  # 5 min of 15 s deadlines and the default backoff
    for earlier, later in itertools.pairwise(settled):
        assert later.error is not None
        assert "no response within 15s" in earlier.error
        # each timed out 15 s after its dispatch, virtual time; the retry followed its backoff
        assert earlier.response_time - earlier.dispatch_time == timedelta(seconds=15)
        assert later.dispatch_time >= earlier.response_time
    task = emulator.client().get_task(name=name)
    assert task.dispatch_count == len(attempts)
    assert task.response_count == 0
    assert task.last_attempt.response_status.code in (0, errors.Code.DEADLINE_EXCEEDED)


def test_advance_times_out_an_attempt_whose_handler_never_answers(receiver: Receiver) -> None:
    with Emulator() as emulator:
        name = _hanging_task(emulator, receiver)
        start = emulator.now
        now = emulator.advance(timedelta(minutes=5), timeout=3)
        assert now - start >= timedelta(minutes=5)
        _check_timed_out_on_the_virtual_clock(emulator, name)
        receiver.release()


def test_http_advance_times_out_a_hanging_attempt_too(receiver: Receiver) -> None:
    with Emulator() as emulator:
        name = _hanging_task(emulator, receiver)
        response = requests.post(
            f"{emulator.http_url}/_emulator/advance",
            json={"seconds": 300, "timeout": 3},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        _check_timed_out_on_the_virtual_clock(emulator, name)
        receiver.release()


def test_advance_times_out_several_handlers_that_never_answer(receiver: Receiver) -> None:
    receiver.hold()
    with Emulator() as emulator:
        client = emulator.client()
        queue = client.create_queue(
            parent=emulator.parent, queue={"name": emulator.queue_name("hangs")}
        )
        for _ in range(3):
            client.create_task(
                parent=queue.name,
                task={
                    "http_request": {"url": f"{receiver.url}/hang"},
                    "dispatch_deadline": duration_pb2.Duration(seconds=15),
                },
            )
        receiver.wait_for(3)
        emulator.advance(timedelta(minutes=1), timeout=2)  # three 15 s deadlines on the way
        timed_out = [a for a in emulator.attempts() if a.response_time is not None]
        assert len(timed_out) >= 3
        receiver.release()
