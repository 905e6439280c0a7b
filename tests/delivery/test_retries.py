"""Outcomes of attempts: success, HTTP errors, timeouts and unreachable targets; the
retries they lead to, on the backoff schedule, and when retries stop."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import tasks_v2
from google.protobuf import field_mask_pb2

from emulator import Emulator
from emulator.core import errors

from support import (
    LOCATION,
    PROJECT,
    Client,
    Receiver,
    duration,
    fast_retries,
    get_full,
    make_queue,
)

FULL = tasks_v2.Task.View.FULL


def backoff(seconds: float) -> dict[str, Any]:
    """Queue fields for a fixed backoff: every retry `seconds` after the failure."""
    return {"retry_config": {"min_backoff": duration(seconds), "max_backoff": duration(seconds)}}


def test_retry_headers_follow_the_recorded_sequence(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    receiver.responses = [503, 404, 200]
    queue = make_queue(client, **fast_retries())
    task = client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
    emu.wait_for_attempts(3)
    seen = [
        (
            r["headers"]["x-cloudtasks-taskretrycount"],
            r["headers"]["x-cloudtasks-taskexecutioncount"],
            r["headers"].get("x-cloudtasks-taskpreviousresponse"),
            r["headers"].get("x-cloudtasks-taskretryreason"),
        )
        for r in receiver.requests
    ]
    assert seen == [("0", "0", None, None), ("1", "0", "503", ""), ("2", "1", "404", "")]
    with pytest.raises(exceptions.NotFound):
        client.get_task(name=task.name)


def test_counters_and_attempts_are_visible_while_retrying(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    receiver.responses = [503, 503]
    queue = make_queue(client, **backoff(100))
    task = client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
    emu.wait_for_attempts(1)
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
    emu.advance(100)
    emu.wait_for_attempts(2)
    second = get_full(client, task.name)
    assert second.dispatch_count == 2
    assert second.response_count == 2
    assert second.first_attempt.dispatch_time == first.first_attempt.dispatch_time
    assert second.last_attempt.dispatch_time > first.last_attempt.dispatch_time


# The delays after each failure, end to end (the unit tests check the formula itself).
BACKOFF_TABLES = {
    # The proto's example.
    "table-A": ({"min": 10, "max": 300, "doublings": 3}, [10, 20, 40, 80, 160, 240, 300, 300, 300]),
    # The queue defaults: min 0.1 s, max 3600 s, 16 doublings (the cap is reached first).
    "table-B": ({}, [0.1 * 2**k for k in range(16)] + [3600, 3600]),
    # Linear only.
    "table-C": ({"min": 1, "max": 10, "doublings": 0}, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 10]),
    "table-D": ({"min": 1, "max": 60, "doublings": 5}, [1, 2, 4, 8, 16, 32, 60, 60]),
}


@pytest.mark.parametrize(("config", "delays"), BACKOFF_TABLES.values(), ids=BACKOFF_TABLES)
def test_backoff_follows_the_worked_tables(
    client: Client, emu: Emulator, receiver: Receiver, config: dict[str, float], delays: list[float]
) -> None:
    receiver.responses = [503] * len(delays)  # then 200
    queue = make_queue(client, "backoff")
    if config:
        client.update_queue(
            queue={
                "name": queue.name,
                "retry_config": {
                    "min_backoff": duration(config["min"]),
                    "max_backoff": duration(config["max"]),
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
    task = client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
    emu.advance(sum(delays) + 60)  # every retry falls due on the way
    attempts = emu.wait_for_attempts(len(delays) + 1, task=task.name)
    assert [a.status for a in attempts] == [503] * len(delays) + [200]
    # Each retry was due (its schedule_time) the delay after the failure before it.
    observed = [(b.schedule_time - a.response_time) for a, b in itertools.pairwise(attempts)]
    assert [d.total_seconds() for d in observed] == pytest.approx(delays, abs=1e-6)


def test_retry_after_is_honoured(client: Client, emu: Emulator, receiver: Receiver) -> None:
    receiver.responses = [(429, {"Retry-After": "120"}), (503, {"Retry-After": "0"})]
    queue = make_queue(
        client, retry_config={"min_backoff": duration(1), "max_backoff": duration(10)}
    )
    task = client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
    emu.wait_for_attempts(1)
    current = get_full(client, task.name)
    assert current.schedule_time - current.last_attempt.response_time == timedelta(seconds=120)
    emu.advance(120)
    emu.wait_for_attempts(2)
    current = get_full(client, task.name)
    # A shorter Retry-After does not cut the backoff.
    assert current.schedule_time - current.last_attempt.response_time == timedelta(seconds=2)


def test_each_attempt_says_what_became_of_its_task_and_why(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    receiver.responses = [503, 503, 503, (429, {"Retry-After": "100"}), 503]  # then 200
    queue = make_queue(
        client,
        retry_config={
            "min_backoff": duration(1),
            "max_backoff": duration(5),
            "max_doublings": 1,
        },
    )
    task = client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
    emu.advance(300)
    attempts = emu.wait_for_attempts(6, task=task.name)
    assert [(a.result, a.backoff) for a in attempts] == [
        ("retried", "min_backoff: 1s after the first failure"),
        ("retried", "doubling: 1s x 2^1 = 2s (max_doublings 1)"),
        ("retried", "linear: 1s x 2^1 x 2 = 4s (after max_doublings 1)"),
        ("retried", "Retry-After: 100s, more than the backoff (max_backoff 5s)"),
        ("retried", "max_backoff: 5s, less than linear 1s x 2^1 x 4 = 8s"),
        ("succeeded", None),
    ]
    for attempt, after in itertools.pairwise(attempts):
        assert attempt.next_attempt == after.schedule_time
        assert attempt.latency is not None
        assert attempt.latency >= 0
    assert attempts[-1].next_attempt is None


def test_an_attempt_that_ends_the_retries_says_which_limit(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    receiver.status = 500
    queue = make_queue(client, **fast_retries(max_attempts=2))
    task = client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
    attempts = emu.wait_for_attempts(2, task=task.name)
    assert [(a.result, a.backoff) for a in attempts] == [
        ("retried", "min_backoff: 0s after the first failure"),
        ("dropped", "max_attempts 2 reached"),
    ]


def _attempts_until_deleted(client: Client, emu: Emulator, name: str) -> int:
    """Run every retry that falls due within ten minutes (well within the name's one-hour
    tombstone); the number of attempts, once the task is gone."""
    emu.advance(timedelta(minutes=10))
    with pytest.raises(exceptions.NotFound) as e:
        client.get_task(name=name)
    assert e.value.message == errors.TASK_TOMBSTONED
    return len(emu.attempts(task=name))


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
    client: Client, emu: Emulator, receiver: Receiver, retry: dict[str, float], attempts: int
) -> None:
    receiver.status = 500
    config: dict[str, Any] = {"max_attempts": retry["max_attempts"]}
    if "max_retry_duration" in retry:
        config["max_retry_duration"] = duration(retry["max_retry_duration"])
    if "min" in retry:
        config["min_backoff"] = duration(retry["min"])
    queue = make_queue(client, "stops", retry_config=config)
    task = client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
    assert _attempts_until_deleted(client, emu, task.name) == attempts
    assert len(receiver.requests) == attempts


def test_task_retry_config_overrides_the_queue(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    receiver.status = 500
    queue = make_queue(client, retry_config={"min_backoff": duration(10)})
    task = client.create_task(
        parent=queue.name,
        task={"http_request": {"url": receiver.url}, "retry_config": {"max_attempts": 2}},
    )
    assert _attempts_until_deleted(client, emu, task.name) == 2


def _hanging_task(client: Client, receiver: Receiver, **queue_config: Any) -> tasks_v2.Task:
    """A task whose handler accepts the request and does not answer; 15 s deadline."""
    receiver.hold()
    queue = make_queue(client, **queue_config)
    task = client.create_task(
        parent=queue.name,
        task={"http_request": {"url": receiver.url}, "dispatch_deadline": duration(15)},
    )
    receiver.wait_for(1)
    return task


def test_timeout_is_a_failed_attempt_without_a_response(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    task = _hanging_task(client, receiver, **fast_retries(max_attempts=1))
    emu.advance(15)  # past the deadline on the emulator's clock: the attempt times out
    (settled,) = emu.wait_for_attempts(1)
    assert settled.status is None
    assert settled.error is not None
    assert "within 15s" in settled.error
    assert settled.response_time - settled.dispatch_time == timedelta(seconds=15)
    receiver.release()
    with pytest.raises(exceptions.NotFound):
        client.get_task(name=task.name)


def test_timeout_and_connection_errors_do_not_count_responses(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    task = _hanging_task(client, receiver, **backoff(100))
    emu.advance(15)
    emu.wait_for_attempts(1)
    timed_out = get_full(client, task.name)
    assert timed_out.dispatch_count == 1
    assert timed_out.response_count == 0
    assert timed_out.last_attempt.response_status.code == errors.Code.DEADLINE_EXCEEDED
    receiver.release()


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://127.0.0.1:9/refused", errors.Code.UNAVAILABLE),
        ("http://no-such-host.invalid/", errors.Code.UNAVAILABLE),
    ],
)
def test_unreachable_targets_are_failed_attempts(
    client: Client, emu: Emulator, url: str, code: errors.Code
) -> None:
    queue = make_queue(client, **backoff(100))
    task = client.create_task(parent=queue.name, task={"http_request": {"url": url}})
    (settled,) = emu.wait_for_attempts(1)
    assert settled.status is None
    current = get_full(client, task.name)
    assert current.response_count == 0
    assert current.last_attempt.response_status.code == code
    assert current.schedule_time == current.last_attempt.response_time + timedelta(seconds=100)


def test_bad_url_at_dispatch_is_a_failed_attempt(client: Client, emu: Emulator) -> None:
    queue = make_queue(
        client,
        "badhost",
        http_target={"uri_override": {"host": "bad host"}},
        **fast_retries(max_attempts=1),
    )
    task = client.create_task(parent=queue.name, task={"http_request": {"url": "http://ok/"}})
    (settled,) = emu.wait_for_attempts(1)
    assert settled.status is None
    assert settled.error
    with pytest.raises(exceptions.NotFound):
        client.get_task(name=task.name)


# -- the task changes while its attempt is in flight ---------------------------------------


def _in_flight_then(
    client: Client,
    emu: Emulator,
    receiver: Receiver,
    action: Callable[[tasks_v2.Queue, tasks_v2.Task], object],
) -> tasks_v2.Task:
    """Run `action` while the task's first attempt is in flight; that attempt then fails
    (503), and no retry follows within ten minutes."""
    receiver.hold()
    receiver.responses = [503]
    queue = make_queue(client, **fast_retries())
    task = client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
    receiver.wait_for(1)
    action(queue, task)
    receiver.release()
    (settled,) = emu.wait_for_attempts(1)
    assert settled.status == 503
    emu.advance(600)  # any retry would be due by now
    assert len(emu.attempts()) == 1
    return task


def test_purge_during_dispatch_does_not_reschedule(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    task = _in_flight_then(client, emu, receiver, lambda q, t: client.purge_queue(name=q.name))
    with pytest.raises(exceptions.NotFound):
        client.get_task(name=task.name)
    assert len(receiver.requests) == 1


def test_delete_task_in_flight_does_not_resurrect_it(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    task = _in_flight_then(client, emu, receiver, lambda q, t: client.delete_task(name=t.name))
    with pytest.raises(exceptions.NotFound) as e:
        client.get_task(name=task.name)
    assert e.value.message == errors.TASK_TOMBSTONED
    assert len(receiver.requests) == 1


def test_delete_queue_during_dispatch(client: Client, emu: Emulator, receiver: Receiver) -> None:
    task = _in_flight_then(client, emu, receiver, lambda q, t: client.delete_queue(name=q.name))
    with pytest.raises(exceptions.NotFound):
        client.get_task(name=task.name)
    assert len(receiver.requests) == 1


# -- the log --------------------------------------------------------------------------------


def test_one_log_line_per_attempt(
    client: Client, emu: Emulator, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="emulator.dispatch")
    receiver.responses = [503]
    queue = make_queue(client, "logged", **fast_retries())
    client.create_task(
        parent=queue.name,
        task={"name": f"{queue.name}/tasks/t1", "http_request": {"url": receiver.url}},
    )
    emu.wait_for_attempts(2)
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
