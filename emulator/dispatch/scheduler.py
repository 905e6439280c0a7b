"""One queue's dispatch decisions, given "now": a pure unit, no I/O and no asyncio.

It holds a heap of due times, the queue's token bucket and its count of attempts in
flight. `take(now)` says which tasks may start now (earliest schedule time first, one
token each, within the concurrency cap) and when to ask again; the dispatcher owns the
event loop, starts the attempts and tells the scheduler when each one ends.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from emulator.dispatch.bucket import TokenBucket
from emulator.store.records import RateLimits, Task

# Whether a heap entry (a task due at a time) still stands: the task is live, still due
# at that time, and not already in flight.
Valid = Callable[[Task, datetime], bool]
Order = Callable[[Task], int]  # a due task's place among those due with it (shuffle)


@dataclass(order=True, slots=True)
class _Entry:
    due: datetime
    seq: int  # creation order breaks ties
    push: int  # then push order
    task: Task = field(compare=False)


@dataclass(slots=True)
class Decision:
    start: list[Task]  # tokens taken and counted in flight: the caller starts these now
    next_at: datetime | None  # when to ask again; None: only after a change
    rate_limited: bool  # due tasks are waiting for a token


class QueueScheduler:
    def __init__(self, limits: RateLimits, now: datetime) -> None:
        self._heap: list[_Entry] = []
        self._pushes = itertools.count()
        self.bucket = TokenBucket(limits.max_dispatches_per_second, limits.max_burst_size, now)
        self.max_concurrent = limits.max_concurrent_dispatches
        self.in_flight = 0
        self.limits = limits
        # Rough edges (emulator.dispatch.rough_edges), off unless set: the rate and burst
        # are halved `throttled` times; due tasks go out in the order `order` gives them.
        self.throttled = 0
        self.order: Order | None = None
        self._ready: list[tuple[int, int, _Entry]] = []  # due entries, by `order`

    def configure(self, limits: RateLimits, now: datetime) -> None:
        """New limits take effect at once; the bucket keeps the tokens it has earned."""
        self.limits = limits
        self.throttle(self.throttled, now)
        self.max_concurrent = limits.max_concurrent_dispatches

    def throttle(self, halvings: int, now: datetime) -> None:
        """The enforced rate: the configured rate and burst halved `halvings` times
        (system throttling; the burst stays at least 1)."""
        self.throttled = halvings
        rate = self.limits.max_dispatches_per_second / 2**halvings
        self.bucket.configure(rate, max(1, self.limits.max_burst_size >> halvings), now)

    def shuffle(self, order: Order | None) -> None:
        """Due tasks go out in `order`'s order (None: earliest schedule time first)."""
        self.order = order
        if order is None and self._ready:
            self._heap += [entry for _, _, entry in self._ready]
            self._ready.clear()
            heapq.heapify(self._heap)

    def push(self, task: Task) -> None:
        """`task` is due at its schedule_time (an entry for an older time goes stale)."""
        heapq.heappush(self._heap, _Entry(task.schedule_time, task.seq, next(self._pushes), task))

    def started(self) -> None:
        """An attempt of this queue that `take()` did not hand out began (RunTask)."""
        self.in_flight += 1

    def finished(self) -> None:
        self.in_flight -= 1

    def take(self, now: datetime, valid: Valid, limit: int | None = None) -> Decision:
        """What may start now (at most `limit` attempts), and when to ask again."""
        if self.order is not None:
            return self._take_shuffled(now, valid, limit, self.order)
        start: list[Task] = []
        taken: set[int] = set()  # a task pushed twice for one time starts once
        while self._heap:
            if limit is not None and len(start) >= limit:
                return Decision(start, None, False)  # the caller asks again when it can
            entry = self._heap[0]
            if id(entry.task) in taken or not valid(entry.task, entry.due):
                heapq.heappop(self._heap)
                continue
            if entry.due > now:
                return Decision(start, entry.due, False)
            if self.in_flight >= self.max_concurrent:
                return Decision(start, None, False)  # a finishing attempt calls again
            if not self.bucket.take(now):
                return Decision(start, self.bucket.next_token_at(now), True)
            heapq.heappop(self._heap)
            self.in_flight += 1
            start.append(entry.task)
            taken.add(id(entry.task))
        return Decision(start, None, False)

    def _take_shuffled(
        self, now: datetime, valid: Valid, limit: int | None, order: Order
    ) -> Decision:
        """`take()` with shuffle on: every entry due by `now` joins the ready ones, which
        go out in `order`'s order; later ones wait for their time as usual."""
        heap, ready = self._heap, self._ready
        while heap and heap[0].due <= now:
            entry = heapq.heappop(heap)
            heapq.heappush(ready, (order(entry.task), entry.push, entry))
        start: list[Task] = []
        taken: set[int] = set()
        while ready:
            if limit is not None and len(start) >= limit:
                return Decision(start, None, False)
            entry = ready[0][2]
            if id(entry.task) in taken or not valid(entry.task, entry.due):
                heapq.heappop(ready)
                continue
            if self.in_flight >= self.max_concurrent:
                return Decision(start, None, False)
            if not self.bucket.take(now):
                return Decision(start, self.bucket.next_token_at(now), True)
            heapq.heappop(ready)
            self.in_flight += 1
            start.append(entry.task)
            taken.add(id(entry.task))
        while heap and not valid(heap[0].task, heap[0].due):
            heapq.heappop(heap)
        return Decision(start, heap[0].due if heap else None, False)

    def compact(self, valid: Valid) -> None:
        """Drop every stale entry now, not only those that reach the top of the heap."""
        self._heap = [entry for entry in self._heap if valid(entry.task, entry.due)]
        heapq.heapify(self._heap)
        self._ready = [item for item in self._ready if valid(item[2].task, item[2].due)]
        heapq.heapify(self._ready)

    def __len__(self) -> int:
        """Entries, stale ones included."""
        return len(self._heap) + len(self._ready)
