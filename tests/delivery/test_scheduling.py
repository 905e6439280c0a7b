"""When attempts start: schedule times, pause, RunTask, the token bucket and the
concurrency cap."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime, timedelta

import pytest
from google.api_core import exceptions
from google.protobuf import field_mask_pb2

from emulator import Emulator
from emulator.dispatch.dispatcher import MAX_UNSENT

from support import Client, Receiver, beta_client, duration, get_full, make_queue

SLOW = {"rate_limits": {"max_dispatches_per_second": 0.001}}  # one token, then one per 1000 s


def _check_bucket(times: list[datetime], rate: float, burst: int) -> None:
    """No prefix of the dispatches used more tokens than the bucket could hold."""
    start = times[0]
    for index, when in enumerate(sorted(times)):
        allowed = burst + rate * (when - start).total_seconds()
        assert index + 1 <= allowed + 1e-6, (index, when, allowed)


# -- schedule times and pause ---------------------------------------------------------------


def test_scheduled_task_waits_for_its_time(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    queue = make_queue(client)
    later = emu.now + timedelta(hours=24)
    task = client.create_task(
        parent=queue.name, task={"http_request": {"url": receiver.url}, "schedule_time": later}
    )
    emu.advance(24 * 3600 - 60)  # everything due by then has fired when this returns
    assert emu.attempts() == []
    assert get_full(client, task.name).dispatch_count == 0
    emu.advance(60)
    (settled,) = emu.wait_for_attempts(1)
    assert settled.dispatch_time >= later


def test_tasks_run_in_schedule_order(client: Client, emu: Emulator, receiver: Receiver) -> None:
    queue = make_queue(client, rate_limits={"max_concurrent_dispatches": 1})
    now = emu.now
    for minutes in (30, 10, 20):
        client.create_task(
            parent=queue.name,
            task={
                "http_request": {"url": f"{receiver.url}/{minutes}"},
                "schedule_time": now + timedelta(minutes=minutes),
            },
        )
    emu.advance(3600)
    emu.wait_for_attempts(3)
    assert [r["path"] for r in receiver.requests] == ["/10", "/20", "/30"]


def test_paused_queue_holds_tasks_until_resumed(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    queue = make_queue(client)
    client.pause_queue(name=queue.name)
    task = client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
    emu.advance(3600)
    emu.wait_until_idle()  # a paused queue's due task does not count as work
    assert emu.attempts() == []
    assert get_full(client, task.name).dispatch_count == 0
    assert receiver.requests == []
    client.resume_queue(name=queue.name)
    emu.wait_for_attempts(1)
    assert len(receiver.requests) == 1


def test_a_hanging_target_does_not_stall_another_queue(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    receiver.hold()
    stuck = make_queue(client, "stuck")
    client.create_task(parent=stuck.name, task={"http_request": {"url": f"{receiver.url}/hang"}})
    receiver.wait_for(1)
    other = make_queue(client, "other")
    task = client.create_task(
        parent=other.name, task={"http_request": {"url": "http://127.0.0.1:9/refused"}}
    )
    (settled,) = emu.wait_for_attempts(1)  # the stuck attempt is still in flight
    assert settled.queue == "other"
    assert get_full(client, task.name).dispatch_count == 1
    receiver.release()


# -- RunTask ----------------------------------------------------------------------------


def test_run_task_dispatches_a_paused_task_at_once(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    queue = make_queue(client)
    client.pause_queue(name=queue.name)
    task = client.create_task(
        parent=queue.name,
        task={
            "http_request": {"url": receiver.url},
            "schedule_time": emu.now + timedelta(days=1),
        },
    )
    ran = client.run_task(name=task.name)
    assert ran.dispatch_count == 1
    assert "dispatch_time" in ran.last_attempt
    assert "response_time" not in ran.last_attempt
    emu.wait_for_attempts(1, timeout=10)  # the clock does not move: it ran at once
    with pytest.raises(exceptions.NotFound):
        client.get_task(name=task.name)


def test_run_task_failure_reschedules_from_the_run_time(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    receiver.responses = [500]
    queue = make_queue(
        client, retry_config={"min_backoff": duration(30), "max_backoff": duration(30)}
    )
    client.pause_queue(name=queue.name)
    task = client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
    ran = client.run_task(name=task.name)
    emu.wait_for_attempts(1)
    current = get_full(client, task.name)
    assert current.schedule_time == ran.last_attempt.dispatch_time + timedelta(seconds=30)
    assert current.dispatch_count == 1


def test_run_task_ignores_the_rate_limit_that_holds_normal_dispatch(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    queue = make_queue(client, **SLOW)
    tasks = [
        client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
        for _ in range(3)
    ]
    first = emu.wait_for_attempts(1)[0]  # the bucket's one token
    # Fails if the bucket does not limit normal dispatch: the other two would go too. A
    # minute is far short of the next token (1000 s); advance() returns once everything
    # due by then has fired.
    emu.advance(60)
    assert len(emu.attempts()) == 1
    waiting = [t.name for t in tasks if t.name != first.task_name]
    assert [get_full(client, name).dispatch_count for name in waiting] == [0, 0]
    for name in waiting:
        assert client.run_task(name=name).dispatch_count == 1
    # Fails if RunTask waits for a token: the next one is ~940 s of clock time away, and
    # without advance() the clock only keeps pace with the 10 s this waits at most.
    settled = emu.wait_for_attempts(3, timeout=10)
    assert sorted(a.task_name for a in settled[1:]) == sorted(waiting)
    assert [a.status for a in settled] == [200, 200, 200]


# -- the token bucket -----------------------------------------------------------------------


def test_fractional_rate_spaces_dispatches(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    queue = make_queue(client, rate_limits={"max_dispatches_per_second": 0.5})
    assert queue.rate_limits.max_burst_size == 1
    for _ in range(4):
        client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
    emu.advance(10)  # steps to each token refill on the way
    times = [a.dispatch_time for a in emu.wait_for_attempts(4)]
    # Fails if the bucket does not limit dispatch: all four would start at once.
    _check_bucket(times, rate=0.5, burst=1)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert all(gap >= 2 - 1e-6 for gap in gaps), gaps


def test_burst_then_rate(client: Client, emu: Emulator, receiver: Receiver) -> None:
    queue = make_queue(client, **SLOW)
    client.update_queue(
        queue={"name": queue.name, "rate_limits": {"max_dispatches_per_second": 5}},
        update_mask=field_mask_pb2.FieldMask(paths=["rate_limits.max_dispatches_per_second"]),
    )
    for _ in range(12):
        client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
    emu.advance(5)
    times = [a.dispatch_time for a in emu.wait_for_attempts(12)]
    _check_bucket(times, rate=5, burst=5)


def test_rate_update_takes_effect_on_a_running_queue(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    queue = make_queue(client, **SLOW)
    for _ in range(3):
        client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
    emu.wait_for_attempts(1)
    emu.advance(60)
    assert len(emu.attempts()) == 1
    assert len(list(client.list_tasks(parent=queue.name))) == 2
    client.update_queue(
        queue={"name": queue.name, "rate_limits": {"max_dispatches_per_second": 500}},
        update_mask=field_mask_pb2.FieldMask(paths=["rate_limits.max_dispatches_per_second"]),
    )
    emu.wait_for_attempts(3)


# -- the concurrency cap ----------------------------------------------------------------------


def test_concurrency_cap_limits_attempts_in_flight(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    queue = make_queue(client, rate_limits={"max_concurrent_dispatches": 3})
    client.pause_queue(name=queue.name)
    for _ in range(8):
        client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
    receiver.hold()
    # All eight are due when the queue resumes, so the attempts allowed start together:
    # once three requests have arrived, no more will start until one is answered.
    client.resume_queue(name=queue.name)
    receiver.wait_for(3)
    dispatched = [t.dispatch_count for t in client.list_tasks(parent=queue.name)]
    assert sorted(dispatched) == [0] * 5 + [1] * 3
    with beta_client(emu) as beta:
        stats = beta.get_queue(
            request={"name": queue.name, "read_mask": field_mask_pb2.FieldMask(paths=["stats"])}
        ).stats
    assert stats.concurrent_dispatches_count == 3
    assert receiver.in_flight == 3
    receiver.release()
    emu.wait_for_attempts(8)
    assert receiver.max_in_flight == 3


def test_queues_due_at_once_share_the_starts_fairly(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    # More attempts due at one moment than the emulator starts before sending any: each
    # queue gets its part, so one queue's backlog never delays another's behind all of it.
    later = emu.now + timedelta(minutes=1)
    queues = [make_queue(client, f"fair-{index}") for index in range(2)]
    for queue in queues:
        for _ in range(MAX_UNSENT):
            client.create_task(
                parent=queue.name,
                task={"http_request": {"url": receiver.url}, "schedule_time": later},
            )
    emu.advance(60)
    attempts = emu.wait_for_attempts(2 * MAX_UNSENT)
    first = Counter(attempt.queue for attempt in attempts[:MAX_UNSENT])
    assert first == {"fair-0": MAX_UNSENT // 2, "fair-1": MAX_UNSENT // 2}


def test_waiting_attempts_do_not_hold_back_others_up_to_the_cap(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    # 150 handlers that do not answer: every attempt is sent (the emulator paces only
    # attempts it has not yet sent), up to the queue's cap of 1000.
    queue = make_queue(client, "slow")
    client.pause_queue(name=queue.name)
    for _ in range(150):
        client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
    receiver.hold()
    client.resume_queue(name=queue.name)
    receiver.wait_for(150)
    assert receiver.in_flight == 150
    receiver.release()
    emu.wait_for_attempts(150)
