"""The per-queue scheduler as the pure unit it is: given "now", what may start.

No asyncio and no emulator: tasks are plain records, time is whatever the test says.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from emulator.dispatch.scheduler import QueueScheduler
from emulator.store.names import QueueName, TaskName
from emulator.store.records import HttpRequest, RateLimits, Task

T0 = datetime(2030, 1, 1, tzinfo=UTC)
QUEUE = QueueName("p", "l", "q")


def _task(name: str, due_in: float, seq: int) -> Task:
    due = T0 + timedelta(seconds=due_in)
    task = Task(TaskName(QUEUE, name), HttpRequest(url="http://x/"), due, T0)
    task.seq = seq
    return task


def _always(task: Task, due: datetime) -> bool:
    return True


def _scheduler(rate: float = 500, concurrency: int = 1000) -> QueueScheduler:
    return QueueScheduler(
        RateLimits(max_dispatches_per_second=rate, max_concurrent_dispatches=concurrency), T0
    )


@pytest.mark.parametrize(
    ("due_in", "now_in", "started", "next_in"),
    [
        # (seconds from T0 each task is due, when we ask, names handed out, next look)
        ([0, 0, 0], 0, ["t0", "t1", "t2"], None),
        ([30, 10, 20], 0, [], 10),
        ([30, 10, 20], 15, ["t1"], 20),
        ([30, 10, 20], 60, ["t1", "t2", "t0"], None),  # earliest schedule time first
        ([5, 5], 5, ["t0", "t1"], None),  # ties go in creation order
    ],
)
def test_due_tasks_start_earliest_first(
    due_in: list[float], now_in: float, started: list[str], next_in: float | None
) -> None:
    scheduler = _scheduler()
    for seq, seconds in enumerate(due_in):
        scheduler.push(_task(f"t{seq}", seconds, seq))
    decision = scheduler.take(T0 + timedelta(seconds=now_in), _always)
    assert [t.name.task for t in decision.start] == started
    expected = None if next_in is None else T0 + timedelta(seconds=next_in)
    assert decision.next_at == expected
    assert scheduler.in_flight == len(started)


@pytest.mark.parametrize(
    ("rate", "burst_taken", "next_token_in"),
    [
        (1, 1, 1.0),  # burst 1 (the rate rounded up): one now, the next a second later
        (5, 5, 0.2),
        (0.5, 1, 2.0),
        (500, 100, 0.002),  # the default pair: 500/s, burst 100
    ],
)
def test_the_bucket_holds_back_what_exceeds_the_burst(
    rate: float, burst_taken: int, next_token_in: float
) -> None:
    scheduler = _scheduler(rate=rate)
    for seq in range(200):
        scheduler.push(_task(f"t{seq}", 0, seq))
    decision = scheduler.take(T0, _always)
    assert len(decision.start) == burst_taken
    assert decision.rate_limited
    assert decision.next_at == T0 + timedelta(seconds=next_token_in)
    # A token later exactly one more may start.
    again = scheduler.take(decision.next_at, _always)
    assert len(again.start) == 1


def test_the_concurrency_cap_waits_for_an_attempt_to_finish() -> None:
    scheduler = _scheduler(concurrency=2)
    for seq in range(3):
        scheduler.push(_task(f"t{seq}", 0, seq))
    first = scheduler.take(T0, _always)
    assert [t.name.task for t in first.start] == ["t0", "t1"]
    assert first.next_at is None  # nothing to do until an attempt ends
    assert scheduler.take(T0, _always).start == []
    scheduler.finished()
    assert [t.name.task for t in scheduler.take(T0, _always).start] == ["t2"]


def test_a_run_task_attempt_counts_toward_the_cap() -> None:
    scheduler = _scheduler(concurrency=1)
    scheduler.push(_task("t0", 0, 0))
    scheduler.started()  # RunTask began an attempt the scheduler did not hand out
    assert scheduler.take(T0, _always).start == []
    scheduler.finished()
    assert len(scheduler.take(T0, _always).start) == 1


def test_stale_entries_are_dropped() -> None:
    scheduler = _scheduler()
    gone, kept = _task("gone", 0, 0), _task("kept", 0, 1)
    scheduler.push(gone)
    scheduler.push(kept)
    decision = scheduler.take(T0, lambda task, due: task is kept)
    assert decision.start == [kept]
    assert len(scheduler) == 0


def test_new_limits_keep_the_tokens_earned() -> None:
    scheduler = _scheduler(rate=10)  # burst 10, full
    for seq in range(30):
        scheduler.push(_task(f"t{seq}", 0, seq))
    assert len(scheduler.take(T0, _always).start) == 10
    later = T0 + timedelta(seconds=0.5)  # 5 tokens earned
    scheduler.configure(RateLimits(max_dispatches_per_second=2), later)  # burst 2 now
    assert len(scheduler.take(later, _always).start) == 2
