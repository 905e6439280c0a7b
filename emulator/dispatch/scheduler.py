"""One queue's scheduler: a heap of due times, a token bucket and a concurrency count.

It sleeps until its earliest task is due, a token is available, or the dispatcher wakes
it because the store or the clock changed; then it starts every attempt allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from emulator.dispatch.bucket import TokenBucket
from emulator.store.names import QueueName
from emulator.store.records import Queue, QueueState, Task

if TYPE_CHECKING:
    from emulator.dispatch.dispatcher import Dispatcher


@dataclass(frozen=True)
class _Entry:
    """A heap entry: valid only while the task is live and still due at `due`."""

    due: datetime
    seq: int
    push: int
    task: Task

    def __lt__(self, other: _Entry) -> bool:
        return (self.due, self.seq, self.push) < (other.due, other.seq, other.push)


class QueueScheduler:
    def __init__(self, name: QueueName, dispatcher: Dispatcher, queue: Queue) -> None:
        self.name = name
        self.dispatcher = dispatcher
        self.heap: list[_Entry] = []
        self.in_flight = 0
        self.wake = asyncio.Event()
        self.next_at: datetime | None = None  # when this scheduler next has work
        self.rate_limited = False  # due tasks are waiting for a token
        self._closed = False
        limits = queue.rate_limits
        self.bucket = TokenBucket(
            limits.max_dispatches_per_second, limits.max_burst_size, dispatcher.clock.now()
        )
        self._runner = asyncio.create_task(self._run(), name=f"scheduler {name}")

    def push(self, task: Task) -> None:
        heapq.heappush(
            self.heap, _Entry(task.schedule_time, task.seq, next(self.dispatcher.pushes), task)
        )

    def configure(self, queue: Queue) -> None:
        limits = queue.rate_limits
        self.bucket.configure(
            limits.max_dispatches_per_second, limits.max_burst_size, self.dispatcher.clock.now()
        )

    async def close(self) -> None:
        self._closed = True
        self.wake.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._runner

    async def _run(self) -> None:
        # A flag, not cancellation, ends the loop: wait_for can swallow a cancel on 3.11.
        while not self._closed:
            self.wake.clear()
            self.next_at = self._dispatch_due()
            self.dispatcher.activity()
            delay = None
            if self.next_at is not None:
                delay = max(0.0, (self.next_at - self.dispatcher.clock.now()).total_seconds())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self.wake.wait()

    def _valid(self, entry: _Entry) -> bool:
        task = entry.task
        store = self.dispatcher.store
        return (
            store.is_live(task)
            and task.schedule_time == entry.due
            and not self.dispatcher.in_flight[id(task)]
        )

    def _dispatch_due(self) -> datetime | None:
        """Start every attempt allowed now; return when the next one may be, or None to
        wait for a change. Records whether due tasks are waiting for a token."""
        self.rate_limited = False
        queue = self.dispatcher.store.find_queue(self.name)
        if queue is None or queue.state != QueueState.RUNNING:
            return None
        clock = self.dispatcher.clock
        while self.heap:
            entry = self.heap[0]
            if not self._valid(entry):
                heapq.heappop(self.heap)
                continue
            now = clock.now()
            if entry.due > now:
                return entry.due
            if self.in_flight >= queue.rate_limits.max_concurrent_dispatches:
                return None  # a finishing attempt wakes us
            if not self.bucket.take(now):
                self.rate_limited = True
                return self.bucket.next_token_at(now)
            heapq.heappop(self.heap)
            self.dispatcher.start_attempt(entry.task, queue, forced=False)
        return None
