"""Production's rough edges (docs/production-parity.md): duplicate deliveries, no ordering, a
dispatch latency and throttling by 429/503 answers, each seeded and exact under the
virtual clock; all off unless switched on."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from google.cloud import tasks_v2

from emulator import Attempt, Emulator, RoughEdges

from support import PARENT, Client, Receiver, beta_client, make_queue, queue_path

DUPLICATES = RoughEdges(duplicates=1.0, seed=7)
THROTTLE = RoughEdges(throttle=True)
# The rule of docs/production-parity.md: each 429/503 halves the rate (at most 6 times), each
# 10 successes in a row double it again; any other error restarts the count.
HALVINGS, RECOVERY = 6, 10


def _tasks(client: Client, queue: str, url: str, count: int, **fields: Any) -> list[str]:
    return [
        client.create_task(
            parent=queue, task={"http_request": {"url": url, "body": str(i).encode()}, **fields}
        ).name
        for i in range(count)
    ]


def _gaps(attempts: list[Attempt]) -> list[float]:
    times = sorted(a.dispatch_time for a in attempts)
    return [(b - a).total_seconds() for a, b in itertools.pairwise(times)]


class FirstAttemptFails(ThreadingHTTPServer):
    """A target whose answer depends on the task alone, never on arrival order: 503 to
    the first attempt of the tasks whose body is in `failing`, 200 to everything else."""

    daemon_threads = True

    def __init__(self, failing: set[bytes]) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                first = self.headers["X-CloudTasks-TaskRetryCount"] == "0"
                self.send_response(503 if first and body in failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/"


@pytest.fixture
def first_attempt_fails() -> Iterator[FirstAttemptFails]:
    server = FirstAttemptFails({b"0", b"2"})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


# -- duplicates ---------------------------------------------------------------------------


class Handlers:
    """Two handlers of the same deliveries: one charges a customer for every request it
    gets (not idempotent); the other for every task it has not seen (idempotent: keyed by
    X-CloudTasks-TaskName, as the docs advise)."""

    def __init__(self, requests: list[dict[str, Any]]) -> None:
        self.naive = [r["body"] for r in requests]
        seen: dict[str, bytes] = {}
        for r in requests:
            seen.setdefault(r["headers"]["X-CloudTasks-TaskName"], r["body"])
        self.idempotent = list(seen.values())


def test_duplicates_catch_a_handler_that_is_not_idempotent(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    emu.set_rough_edges(DUPLICATES)
    queue = make_queue(client)
    _tasks(client, queue.name, receiver.url, 3)
    emu.advance(60)
    attempts = emu.wait_for_attempts(6)
    handlers = Handlers(receiver.wait_for(6))
    # The handler that is not idempotent charges every order twice: the test that would
    # have passed without duplicates now shows the double effect.
    assert sorted(handlers.naive) == [b"0", b"0", b"1", b"1", b"2", b"2"]
    assert sorted(handlers.idempotent) == [b"0", b"1", b"2"]
    originals = [a for a in attempts if not a.duplicate]
    duplicates = [a for a in attempts if a.duplicate]
    assert [a.result for a in originals] == ["succeeded"] * 3
    assert [a.result for a in duplicates] == ["duplicate"] * 3
    assert {a.task for a in duplicates} == {a.task for a in originals}
    for duplicate in duplicates:
        assert duplicate.attempt == 1
        assert duplicate.status == 200
        (first,) = [a for a in originals if a.task == duplicate.task]
        assert duplicate.dispatch_time >= first.response_time
        assert duplicate.headers == first.headers  # the same request, once more
    assert list(client.list_tasks(parent=queue.name)) == []


def test_a_duplicate_repeats_the_attempt_that_succeeded_with_a_fresh_token(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    emu.set_rough_edges(DUPLICATES)
    receiver.responses = [500]  # then 200
    queue = make_queue(client, retry_config={"min_backoff": {"seconds": 1}})
    email = "worker@test-project.iam.gserviceaccount.com"
    client.create_task(
        parent=queue.name,
        task={
            "http_request": {"url": receiver.url, "oidc_token": {"service_account_email": email}}
        },
    )
    emu.advance(60)
    first, second, duplicate = emu.wait_for_attempts(3)
    assert (first.status, second.status, duplicate.status) == (500, 200, 200)
    assert (second.duplicate, duplicate.duplicate) == (False, True)
    assert duplicate.attempt == second.attempt == 2
    received = [r["headers"] for r in receiver.wait_for(3)]
    # Every X-CloudTasks-* header as the attempt it repeats carried it: the service counts
    # no attempt it does not know it made.
    service = {k: v for k, v in received[1].items() if k.lower().startswith("x-cloudtasks-")}
    assert service == {
        k: v for k, v in received[2].items() if k.lower().startswith("x-cloudtasks-")
    }
    assert service["X-CloudTasks-TaskRetryCount"] == "1"
    assert service["X-CloudTasks-TaskPreviousResponse"] == "500"
    for headers in received[1:]:
        token = headers["Authorization"].removeprefix("Bearer ")
        claims = jwt.decode(token, options={"verify_signature": False})
        assert (claims["aud"], claims["email"]) == (receiver.url, email)


def test_a_fraction_of_deliveries_is_duplicated_the_same_way_for_a_seed(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    def duplicated(seed: int) -> list[bytes]:
        emu.reset()
        emu.set_rough_edges(RoughEdges(duplicates=0.3, seed=seed))
        queue = make_queue(client)
        _tasks(client, queue.name, receiver.url, 20)
        emu.advance(60)
        emu.wait_until_idle()
        return sorted(a.body for a in emu.attempts() if a.duplicate)

    first = duplicated(1)
    assert 0 < len(first) < 20
    assert duplicated(1) == first
    assert duplicated(2) != first


def test_failed_attempts_are_never_duplicated(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    emu.set_rough_edges(DUPLICATES)
    receiver.status = 404
    queue = make_queue(client, retry_config={"max_attempts": 2, "min_backoff": {"seconds": 1}})
    _tasks(client, queue.name, receiver.url, 2)
    emu.advance(60)
    emu.wait_until_idle()
    attempts = emu.attempts()
    assert len(attempts) == 4
    assert not any(a.duplicate for a in attempts)


# -- no ordering --------------------------------------------------------------------------


def _order(client: Client, emu: Emulator, receiver: Receiver, edges: RoughEdges) -> list[bytes]:
    """The order in which eight tasks due at the same time reach a one-at-a-time queue."""
    emu.reset()
    emu.set_rough_edges(edges)
    queue = make_queue(client, rate_limits={"max_concurrent_dispatches": 1})
    _tasks(client, queue.name, receiver.url, 8, schedule_time=emu.now + timedelta(minutes=1))
    emu.advance(120)
    return [a.body for a in emu.wait_for_attempts(8)]


def test_shuffle_changes_the_order_of_tasks_due_together_by_seed(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    created = [str(i).encode() for i in range(8)]
    assert _order(client, emu, receiver, RoughEdges()) == created  # off: earliest first
    shuffled = _order(client, emu, receiver, RoughEdges(shuffle=True, seed=3))
    assert sorted(shuffled) == created
    assert shuffled != created
    assert _order(client, emu, receiver, RoughEdges(shuffle=True, seed=3)) == shuffled
    assert _order(client, emu, receiver, RoughEdges(shuffle=True, seed=4)) != shuffled


def test_shuffle_mixes_a_backlog_but_later_tasks_wait_for_their_time(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    emu.set_rough_edges(RoughEdges(shuffle=True, seed=5))
    queue = make_queue(client, rate_limits={"max_concurrent_dispatches": 1})
    client.pause_queue(name=queue.name)
    _tasks(client, queue.name, receiver.url, 8)  # due one after another, all in the past
    later = emu.now + timedelta(hours=1)
    client.create_task(
        parent=queue.name, task={"http_request": {"url": receiver.url}, "schedule_time": later}
    )
    client.resume_queue(name=queue.name)
    emu.advance(60)
    backlog = [a.body for a in emu.wait_for_attempts(8)]
    assert sorted(backlog) == [str(i).encode() for i in range(8)]
    assert backlog != sorted(backlog)
    emu.advance(3600)
    last = emu.wait_for_attempts(9)[-1]
    assert last.dispatch_time >= later


# -- latency ------------------------------------------------------------------------------


def test_latency_delays_each_dispatch_on_the_virtual_clock(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    emu.set_rough_edges(RoughEdges(latency=(timedelta(seconds=5), timedelta(seconds=5))))
    queue = make_queue(client)
    due = emu.now + timedelta(seconds=10)
    client.create_task(
        parent=queue.name, task={"http_request": {"url": receiver.url}, "schedule_time": due}
    )
    emu.advance(14)  # the task is due and its token taken, but the latency holds it
    assert emu.attempts() == []
    emu.advance(2)
    (attempt,) = emu.wait_for_attempts(1)
    assert (attempt.dispatch_time - due).total_seconds() == pytest.approx(5, abs=0.05)
    assert attempt.schedule_time == due
    # What the handler sees of the task's time is unchanged: ETA is the schedule time.
    eta = float(receiver.wait_for(1)[0]["headers"]["X-CloudTasks-TaskETA"])
    assert eta == pytest.approx(due.timestamp(), abs=1e-6)


def test_latency_is_drawn_from_its_range_the_same_way_for_a_seed(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    low, high = timedelta(milliseconds=50), timedelta(seconds=2)

    def delays(seed: int) -> dict[bytes, float]:
        emu.reset()
        emu.set_rough_edges(RoughEdges(latency=(low, high), seed=seed))
        queue = make_queue(client)
        due = emu.now + timedelta(seconds=10)
        _tasks(client, queue.name, receiver.url, 10, schedule_time=due)
        emu.advance(30)
        return {a.body: (a.dispatch_time - due).total_seconds() for a in emu.wait_for_attempts(10)}

    first = delays(11)
    assert all(0.05 <= delay <= 2.05 for delay in first.values()), first
    assert len({round(delay, 2) for delay in first.values()}) > 5  # spread over the range
    again = delays(11)
    assert again.keys() == first.keys()
    assert all(again[key] == pytest.approx(first[key], abs=0.05) for key in first)
    other = delays(12)
    assert any(other[key] != pytest.approx(first[key], abs=0.05) for key in first)


def test_latency_lets_the_producer_commit_first(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    """The race of an enqueue inside a database transaction: production delivers later
    than the commit. With a latency, the local delivery comes after it too."""
    emu.set_rough_edges(RoughEdges(latency=(timedelta(milliseconds=200), timedelta(seconds=1))))
    queue = make_queue(client)
    enqueued = emu.now
    client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
    committed = enqueued + timedelta(milliseconds=100)  # the transaction's commit
    emu.advance(5)
    (attempt,) = emu.wait_for_attempts(1)
    assert attempt.dispatch_time > committed


def test_run_task_is_not_delayed(client: Client, emu: Emulator, receiver: Receiver) -> None:
    emu.set_rough_edges(RoughEdges(latency=(timedelta(hours=1), timedelta(hours=1))))
    queue = make_queue(client)
    client.pause_queue(name=queue.name)
    task = client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
    ran = client.run_task(name=task.name)
    assert ran.dispatch_count == 1
    emu.wait_for_attempts(1, timeout=10)  # the clock does not move: it ran at once


def test_a_task_deleted_during_its_latency_is_not_sent(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    emu.set_rough_edges(RoughEdges(latency=(timedelta(seconds=30), timedelta(seconds=30))))
    queue = make_queue(client)
    task = client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
    emu.advance(10)
    client.delete_task(name=task.name)
    emu.advance(60)
    emu.wait_until_idle()
    assert emu.attempts() == []
    assert receiver.requests == []


# -- throttling ---------------------------------------------------------------------------


def _expected_gaps(statuses: list[int], rate: float) -> list[float]:
    """Gaps between dispatches of a queue of burst 1 under the rule of the docs, one task
    at a time, the target answering `statuses` in order."""
    level = streak = 0
    gaps = []
    for status in statuses[:-1]:
        if status in (429, 503):
            level, streak = min(level + 1, HALVINGS), 0
        elif 200 <= status < 300:
            streak += 1
            if level and streak >= RECOVERY:
                level, streak = level - 1, 0
        else:
            streak = 0
        gaps.append(2**level / rate)
    return gaps


def test_503_answers_slow_their_queue_while_another_keeps_its_rate(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    emu.set_rough_edges(THROTTLE)
    overloaded = Receiver()
    overloaded.status = 503
    one_a_second = {"max_dispatches_per_second": 1, "max_concurrent_dispatches": 1}
    busy = make_queue(client, "busy", rate_limits=one_a_second, retry_config={"max_attempts": 1})
    calm = make_queue(client, "calm", rate_limits=one_a_second)
    _tasks(client, busy.name, overloaded.url, 9)
    _tasks(client, calm.name, receiver.url, 9)
    emu.advance(600)
    emu.wait_until_idle()
    slowed = _gaps(emu.attempts(queue="busy"))
    assert slowed == pytest.approx(_expected_gaps([503] * 9, 1), abs=0.1)
    assert slowed == pytest.approx([2, 4, 8, 16, 32, 64, 64, 64], abs=0.1)  # the floor: 1/64
    assert _gaps(emu.attempts(queue="calm")) == pytest.approx([1] * 8, abs=0.1)
    assert emu.rough_edges(busy.name).enforced_rate == 1 / 64
    assert emu.rough_edges(calm.name).enforced_rate is None
    with beta_client(emu) as beta:
        stats = beta.get_queue(
            request={"name": busy.name, "read_mask": {"paths": ["name", "stats"]}}
        ).stats
    assert stats.effective_execution_rate == 1 / 64
    overloaded.close()


def test_a_throttled_queue_recovers_after_successes(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    emu.set_rough_edges(THROTTLE)
    statuses = [503, 429, *[200] * 23]
    receiver.responses = list(statuses)
    queue = make_queue(
        client,
        rate_limits={"max_dispatches_per_second": 1, "max_concurrent_dispatches": 1},
        retry_config={"max_attempts": 1},
    )
    _tasks(client, queue.name, receiver.url, len(statuses))
    emu.advance(600)
    emu.wait_until_idle()
    attempts = emu.attempts()
    assert [a.status for a in attempts] == statuses
    gaps = _gaps(attempts)
    assert gaps == pytest.approx(_expected_gaps(statuses, 1), abs=0.1)
    assert gaps[:2] == pytest.approx([2, 4], abs=0.1)  # slowed twice
    assert gaps[-3:] == pytest.approx([1, 1, 1], abs=0.1)  # its own rate again
    assert emu.rough_edges(queue.name).enforced_rate is None


def test_other_errors_do_not_throttle_but_stop_the_recovery(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    emu.set_rough_edges(THROTTLE)
    statuses = [503, *[200] * 9, 500, *[200] * 10, 200]
    receiver.responses = list(statuses)
    queue = make_queue(
        client,
        rate_limits={"max_dispatches_per_second": 1, "max_concurrent_dispatches": 1},
        retry_config={"max_attempts": 1},
    )
    _tasks(client, queue.name, receiver.url, len(statuses))
    emu.advance(600)
    emu.wait_until_idle()
    gaps = _gaps(emu.attempts())
    assert gaps == pytest.approx(_expected_gaps(statuses, 1), abs=0.1)
    assert gaps[9:11] == pytest.approx([2, 2], abs=0.1)  # 9 successes, a 500: still slowed


def test_throttling_is_off_unless_switched_on(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    receiver.status = 503
    queue = make_queue(
        client,
        rate_limits={"max_dispatches_per_second": 1, "max_concurrent_dispatches": 1},
        retry_config={"max_attempts": 1},
    )
    _tasks(client, queue.name, receiver.url, 4)
    emu.advance(60)
    emu.wait_until_idle()
    assert _gaps(emu.attempts()) == pytest.approx([1, 1, 1], abs=0.1)


def test_app_engine_queues_are_throttled_by_503_only(
    start_emulator: Any, receiver: Receiver
) -> None:
    emu = start_emulator(project="test-project", app_engine_host=receiver.url)
    emu.set_rough_edges(THROTTLE)
    client = emu.client()
    gaps = {}
    for status in (429, 503):
        receiver.status = status
        queue = make_queue(
            client,
            f"app-engine-{status}",
            rate_limits={"max_dispatches_per_second": 1, "max_concurrent_dispatches": 1},
            retry_config={"max_attempts": 1},
        )
        for _ in range(3):
            client.create_task(
                parent=queue.name, task={"app_engine_http_request": {"relative_uri": "/x"}}
            )
        emu.advance(60)
        emu.wait_until_idle()
        gaps[status] = _gaps(emu.attempts(queue=queue.name))
    assert gaps[429] == pytest.approx([1, 1], abs=0.1)
    assert gaps[503] == pytest.approx([2, 4], abs=0.1)


# -- everything together, repeated; per queue and for all ----------------------------------


def _run(client: Client, emu: Emulator, target: FirstAttemptFails, seed: int) -> list[Any]:
    """A run with duplicates, shuffle and latency on, and retries: what each attempt was,
    and when (from the tasks' common schedule time). The rate limit does not bind, so
    each task's attempts follow their own chain of times (throttling, which couples
    them, has its own tests above)."""
    emu.reset()
    emu.set_rough_edges(
        RoughEdges(
            duplicates=0.4,
            shuffle=True,
            latency=(timedelta(milliseconds=10), timedelta(seconds=3)),
            seed=seed,
        )
    )
    queue = make_queue(client, retry_config={"min_backoff": {"seconds": 1}})
    due = emu.now + timedelta(seconds=10)
    _tasks(client, queue.name, target.url, 8, schedule_time=due)
    emu.advance(600)
    emu.wait_until_idle()
    return sorted(
        (a.body, a.attempt, a.duplicate, a.status, (a.dispatch_time - due).total_seconds())
        for a in emu.attempts()
    )


def test_the_same_seed_repeats_the_same_attempts(
    client: Client, emu: Emulator, first_attempt_fails: FirstAttemptFails
) -> None:
    target = first_attempt_fails
    first, again = _run(client, emu, target, 42), _run(client, emu, target, 42)
    assert [a[:4] for a in again] == [a[:4] for a in first]
    assert [a[4] for a in again] == pytest.approx([a[4] for a in first], abs=0.1)
    assert any(a[2] for a in first)  # some duplicates, some retries
    assert any(a[1] > 1 for a in first)
    other = _run(client, emu, target, 43)
    assert [a[:3] for a in other] != [a[:3] for a in first] or [
        a[4] for a in other
    ] != pytest.approx([a[4] for a in first], abs=0.1)


def test_a_queue_of_its_own_overrides_the_emulators_settings(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    emu.set_rough_edges(DUPLICATES)
    emu.set_rough_edges(RoughEdges(), queue=queue_path("calm"))  # all off for this one
    emu.set_rough_edges(RoughEdges(duplicates=1.0), queue=queue_path("own"))
    for name in ("calm", "own", "other"):
        make_queue(client, name)
        _tasks(client, queue_path(name), receiver.url, 1)
    emu.advance(60)
    emu.wait_until_idle()
    duplicated = sorted(a.queue for a in emu.attempts() if a.duplicate)
    assert duplicated == ["other", "own"]
    own = emu.rough_edges(queue_path("own"))
    assert own.own
    assert own.rough_edges.duplicates == 1.0
    assert own.rough_edges.seed == emu.rough_edges().rough_edges.seed == 7  # the emulator's
    assert not emu.rough_edges(queue_path("other")).own
    emu.set_rough_edges(None, queue=queue_path("own"))  # follows the emulator's again
    assert emu.rough_edges(queue_path("own")) == emu.rough_edges(queue_path("other"))


def test_reset_goes_back_to_the_start_up_settings(start_emulator: Any, receiver: Receiver) -> None:
    emu = start_emulator(
        project="test-project",
        rough_edges=DUPLICATES,
        queues=[{"name": "calm", "rough_edges": RoughEdges(shuffle=True, seed=1)}],
    )
    assert emu.rough_edges().rough_edges == DUPLICATES
    assert emu.rough_edges("calm").rough_edges == RoughEdges(shuffle=True, seed=1)
    emu.set_rough_edges(RoughEdges())
    emu.set_rough_edges(RoughEdges(throttle=True), queue="calm")
    emu.reset()
    assert emu.rough_edges().rough_edges == DUPLICATES
    assert emu.rough_edges("calm").rough_edges == RoughEdges(shuffle=True, seed=1)
    client = emu.client()
    _tasks(client, queue_path("calm"), receiver.url, 1)
    other = make_queue(client, "other")
    _tasks(client, other.name, receiver.url, 1)
    emu.advance(60)
    emu.wait_until_idle()
    assert sorted((a.queue, a.duplicate) for a in emu.attempts()) == [
        ("calm", False),
        ("other", False),
        ("other", True),
    ]


def test_every_rough_edge_is_off_by_default(emu: Emulator) -> None:
    state = emu.rough_edges()
    assert not state.rough_edges.on
    assert state.rough_edges.seed is not None  # drawn at start, for whoever switches them on
    assert emu.rough_edges("any").enforced_rate is None


def test_tasks_v2_queue_view_is_unchanged_by_throttling(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    """The user's settings are not changed (the docs): GetQueue shows the configured rate."""
    emu.set_rough_edges(THROTTLE)
    receiver.status = 503
    queue = make_queue(client, rate_limits={"max_dispatches_per_second": 4})
    _tasks(client, queue.name, receiver.url, 1)
    emu.wait_for_attempts(1)
    assert emu.rough_edges(queue.name).enforced_rate == 2
    current: tasks_v2.Queue = client.get_queue(name=queue.name)
    assert current.rate_limits.max_dispatches_per_second == 4
    assert PARENT in current.name
