"""Delivers tasks: one loop on the server's event loop, one scheduler per queue.

Data flows one way. The store announces each change; the dispatcher hands due tasks to
the queue's scheduler (a pure unit), asks it what may start, starts those attempts
(`emulator.dispatch.delivery`) and wakes again when the scheduler says, by a timer on
the emulator's clock. Each attempt runs as its own asyncio task, so a slow or hanging
target holds only its own slot of the queue's concurrency cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from emulator.core.clock import Clock, Timer, real_seconds
from emulator.dispatch.delivery import Delivery, Sent
from emulator.dispatch.rough_edges import RoughEdgesRegistry
from emulator.dispatch.scheduler import QueueScheduler
from emulator.dispatch.view import AttemptInFlight, DeliveryView
from emulator.store import Store
from emulator.store.names import QueueName
from emulator.store.records import AttemptTimes, HttpRequest, Queue, QueueState, Task
from emulator.store.store import Change

log = logging.getLogger("emulator.dispatch")

# Attempts started whose send has not begun yet (with a delivery process: whose request it
# has not taken up yet): past this many, no queue starts more until some have. Tokens are
# taken only as fast as requests can be put on the wire, so a busy emulator (or delivery
# process) delivers late rather than in bursts above a queue's rate (and opens no more
# connections than it can use). Attempts waiting for their answer do not count: a queue's
# concurrency cap alone limits those. The room is shared fairly: each queue looked at in a
# pass gets an equal part, and a queue that got none goes first the next time, so one busy
# queue cannot starve the others.
MAX_UNSENT = 64


@dataclass(slots=True)
class _Flight:
    """An attempt under way: its queue's scheduler (the one that counted it), when it
    began (real seconds) and its deadline (clock)."""

    queue: QueueName
    scheduler: QueueScheduler
    task: Task
    started: float
    deadline: datetime
    released: bool = False
    sending: bool = False  # its send has begun
    # Rough edges, when on: the attempt a duplicate repeats; a dispatch latency's end, until
    # which the attempt waits (its token and slot taken).
    again: Sent | None = None
    send_at: datetime | None = None


class Dispatcher:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        delivery: Delivery,
        edges: RoughEdgesRegistry | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.delivery = delivery
        self.edges = edges or RoughEdgesRegistry()  # production's rough edges (off)
        self.schedulers: dict[QueueName, QueueScheduler] = {}
        self._rate_limited: set[QueueName] = set()  # due tasks waiting for a token
        self._in_flight: dict[asyncio.Task[None], _Flight] = {}
        self._busy_tasks: Counter[int] = Counter()  # attempts in flight, by id(task)
        self._dirty: dict[QueueName, None] = {}  # queues to look at next, in order
        self._unsent = 0  # attempts started and not yet sending
        # Queues with due tasks held back for MAX_UNSENT: whether they started any.
        self._held: dict[QueueName, bool] = {}
        self._timers: dict[QueueName, Timer] = {}
        self._wakeup = asyncio.Event()
        # Set, then replaced, after every pass and attempt: what `wait_for_change` waits on.
        self._changed = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        store.subscribe(self._on_change)  # ignored until start(), which reads the store
        self.edges.subscribe(self._edges_changed)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="cloud-tasks dispatcher")
        for name in self.store.queue_names():
            self._on_change(Change(name))
            for task in self.store.list_tasks(name):
                self._on_change(Change(name, task))

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        await asyncio.gather(*self.abandon(), return_exceptions=True)
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self.schedulers.clear()
        self._dirty.clear()
        self._rate_limited.clear()
        self._held.clear()
        await self.delivery.sender.close()

    async def drain(self, timeout: float) -> bool:
        """Start nothing new, and wait up to `timeout` seconds for the attempts in flight
        to settle; whether they all did."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        attempts = list(self._in_flight)
        if not attempts:
            return True
        _, pending = await asyncio.wait(attempts, timeout=timeout)
        return not pending

    def abandon(self) -> list[asyncio.Task[None]]:
        """Cancel every attempt in flight (reset, stop): their outcomes are not wanted.
        Returns them, for a caller that wants to wait until they are gone."""
        attempts = list(self._in_flight)
        for attempt in attempts:
            attempt.cancel()
        return attempts

    # -- store events --------------------------------------------------------------------

    def _on_change(self, change: Change) -> None:
        if self._loop_task is None:
            return
        if change.removed:  # its heap entry goes stale: nothing new to dispatch
            if change.queue in self._rate_limited:
                self._mark(change.queue)  # it may have been what waited for a token
            return
        name = change.queue
        queue = self.store.find_queue(name)
        if queue is None:
            self.schedulers.pop(name, None)
            self._rate_limited.discard(name)
            timer = self._timers.pop(name, None)
            if timer is not None:
                timer.cancel()
            return
        scheduler = self.schedulers.get(name)
        if scheduler is None:
            scheduler = self.schedulers[name] = QueueScheduler(queue.rate_limits, self.clock.now())
            if self.edges.active:
                self._apply_edges(name, scheduler)
        elif change.task is None:  # the queue itself changed: its limits may have
            scheduler.configure(queue.rate_limits, self.clock.now())
        if change.run_now and change.task is not None:
            scheduler.started()  # RunTask counts toward in-flight, never held back by it
            self._start(change.task, queue, scheduler, self.clock.now(), forced=True)
        elif change.task is not None:
            scheduler.push(change.task)
            if not self._sooner(name, queue, change.task.schedule_time):
                return  # a pass already due by then will find it: no wake-up per task
        self._mark(name)

    def _sooner(self, name: QueueName, queue: Queue, due: datetime) -> bool:
        """Whether a task due at `due` needs a pass before the one already coming."""
        if queue.state != QueueState.RUNNING or name in self._dirty:
            return False  # held until resumed; or a pass is coming anyway
        if name in self._rate_limited:
            return False  # the next token's timer passes again
        timer = self._timers.get(name)
        return timer is None or due < timer.when

    def _mark(self, name: QueueName) -> None:
        self._dirty[name] = None
        self._wakeup.set()

    # -- the loop ------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            dirty, self._dirty = self._dirty, {}
            for left, name in enumerate(dirty, start=-len(dirty)):
                room = MAX_UNSENT - self._unsent
                share = -(room // left)  # room / queues left, rounded up
                try:
                    self._pass(name, max(share, 0))
                except Exception:  # one queue's bug must not stop every queue
                    log.exception("dispatching queue %s failed", name)
            self._announce_change()

    def _pass(self, name: QueueName, room: int) -> None:
        """Start what the queue's scheduler allows now, at most `room`; wake again when it
        says."""
        queue = self.store.find_queue(name)
        scheduler = self.schedulers.get(name)
        old = self._timers.pop(name, None)
        if old is not None:
            old.cancel()
        self._rate_limited.discard(name)
        if queue is None or scheduler is None or queue.state != QueueState.RUNNING:
            return
        if len(scheduler) > 2 * self.store.task_count(name) + 64:
            scheduler.compact(self._valid)  # entries of deleted or moved tasks pile up
        # One reading of the clock: an attempt's dispatch time is the time its token was
        # taken (a second reading, later by however long the pass takes, would let the
        # recorded times of two dispatches stand closer than the rate allows).
        now = self.clock.now()
        decision = scheduler.take(now, self._valid, limit=room)
        for task in decision.start:
            self._start(task, queue, scheduler, now, forced=False)
        if len(decision.start) == room:  # look again when attempts begin sending
            self._held[name] = self._held.get(name, False) or room > 0
        if decision.rate_limited:
            self._rate_limited.add(name)
        if decision.next_at is not None:
            self._timers[name] = self.clock.call_at(decision.next_at, lambda: self._mark(name))

    def _valid(self, task: Task, due: datetime) -> bool:
        return (
            self.store.is_live(task)
            and task.schedule_time == due
            and not self._busy_tasks[id(task)]
        )

    # -- attempts ------------------------------------------------------------------------

    def _start(
        self,
        task: Task,
        queue: Queue,
        scheduler: QueueScheduler,
        now: datetime,
        *,
        forced: bool,
        again: Sent | None = None,
    ) -> None:
        """Start an attempt of `task` (`again`: a duplicate delivery of that attempt); with
        a dispatch latency (not for RunTask), it is dispatched when the latency ends."""
        edges = self.edges.get(queue.name) if self.edges.active else None
        number = again.record.attempt if again else None  # (the attempt a duplicate repeats)
        send_at = edges.dispatch_at(task, now, number) if edges and not forced else None
        summary = self.store.record_dispatch(task, now) if not (again or send_at) else None
        self._busy_tasks[id(task)] += 1
        deadline = (send_at or now) + task.dispatch_deadline
        entry = _Flight(queue.name, scheduler, task, real_seconds(), deadline)
        entry.again, entry.send_at = again, send_at
        self._unsent += 1
        attempt = asyncio.create_task(self._attempt(entry, queue, summary, forced))
        self._in_flight[attempt] = entry
        attempt.add_done_callback(self._finished)

    async def _attempt(
        self, entry: _Flight, queue: Queue, summary: AttemptTimes | None, forced: bool
    ) -> None:
        task, at = entry.task, entry.send_at
        try:
            if at is not None:  # a dispatch latency, or a duplicate (rough edges): wait
                self._sending(entry)  # (not held back as unsent while it waits)
                due = task.schedule_time
                await self.clock.wait_until(at)
                entry.send_at, entry.started = None, real_seconds()
                if entry.again is not None:
                    sent = await self.delivery.send_again(
                        task, queue, entry.again, at, entry.deadline
                    )
                elif self.store.is_live(task) and task.schedule_time == due:
                    summary = self.store.record_dispatch(task, at)
                else:
                    return  # deleted, run or rescheduled meanwhile
            if summary is not None:
                began = functools.partial(self._sending, entry)
                sent = await self.delivery.send(task, queue, summary, entry.deadline, began)
        finally:
            self._release(entry)
        # Released first: the task a failure reschedules is no longer in flight.
        if entry.again is not None:
            self.delivery.settle_again(task, sent)
        else:
            assert summary is not None
            self.delivery.settle(task, summary, sent, forced=forced)
        if self.edges.active:
            self._answered(entry, queue, sent)

    def _sending(self, entry: _Flight) -> None:
        """An attempt begins (or ends before it could): held-back queues may start more."""
        if entry.sending:
            return
        entry.sending = True
        self._unsent -= 1
        if self._held and self._unsent < MAX_UNSENT // 2:
            held, self._held = self._held, {}
            for name in sorted(held, key=held.__getitem__):  # those that got none first
                self._mark(name)

    def _release(self, entry: _Flight) -> None:
        """The attempt's task and its slot of the concurrency cap are free (once)."""
        if entry.released:
            return
        entry.released = True
        key = id(entry.task)
        self._busy_tasks[key] -= 1
        if not self._busy_tasks[key]:
            del self._busy_tasks[key]
        entry.scheduler.finished()
        if self.schedulers.get(entry.queue) is entry.scheduler:
            self._mark(entry.queue)

    # -- production's rough edges (emulator.dispatch.rough_edges), when switched on ----------

    def _edges_changed(self, queue: QueueName | None) -> None:
        for name, scheduler in self.schedulers.items():
            if queue is None or name == queue:
                self._apply_edges(name, scheduler)
                self._mark(name)

    def _apply_edges(self, name: QueueName, scheduler: QueueScheduler) -> None:
        edges = self.edges.get(name)
        scheduler.shuffle(edges.order_key if edges is not None and edges.config.shuffle else None)
        scheduler.throttle(edges.level if edges is not None else 0, self.clock.now())

    def _answered(self, entry: _Flight, queue: Queue, sent: Sent) -> None:
        """After an answer: the queue's throttle counts it, and a success may be delivered
        once more (a duplicate never is)."""
        edges, task, status = self.edges.get(entry.queue), entry.task, sent.outcome.status
        scheduler = self.schedulers.get(entry.queue)
        if edges is None or scheduler is not entry.scheduler:
            return  # all off for the queue, or the queue was deleted meanwhile
        if edges.answered(status, app_engine=not isinstance(task.request, HttpRequest)):
            scheduler.throttle(edges.level, self.clock.now())
            self._mark(entry.queue)
        if (
            entry.again is None
            and sent.outcome.succeeded
            and edges.duplicate(task, sent.record.attempt)
        ):
            scheduler.started()  # counts toward in-flight, never held back (as RunTask)
            at = sent.record.response_time or self.clock.now()
            self._start(task, queue, scheduler, at, forced=False, again=sent)

    def _finished(self, attempt: asyncio.Task[None]) -> None:
        entry = self._in_flight.pop(attempt)
        self._sending(entry)  # an attempt cancelled before it ran never counted itself
        self._release(entry)  # an attempt cancelled before it ran never released itself
        self._announce_change()

    def _announce_change(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()  # wakes every waiter; none can clear it for the others

    # -- the read model (emulator.dispatch.view) -------------------------------------------

    @property
    def view(self) -> DeliveryView:
        """What the rest of the emulator may read of delivery."""
        return self

    def in_flight_total(self) -> int:
        return len(self._in_flight)

    def in_flight_count(self, queue: QueueName) -> int:
        return sum(1 for entry in self._in_flight.values() if entry.queue == queue)

    def is_in_flight(self, task: Task) -> bool:
        return self._busy_tasks.get(id(task), 0) > 0

    def in_flight_by_queue(self) -> Counter[QueueName]:
        return Counter(entry.queue for entry in self._in_flight.values())

    def attempts_in_flight(self) -> list[AttemptInFlight]:
        return [
            AttemptInFlight(e.queue, e.started, e.deadline, e.send_at)
            for e in self._in_flight.values()
        ]

    def queues_to_look_at(self) -> list[QueueName]:
        return sorted(self._dirty)

    def rate_limited_queues(self) -> list[QueueName]:
        return sorted(self._rate_limited)

    def enforced_rate(self, queue: QueueName) -> float | None:
        scheduler = self.schedulers.get(queue)
        return scheduler.bucket.rate if scheduler is not None and scheduler.throttled else None

    async def wait_for_change(self, timeout: float) -> bool:
        changed = self._changed
        try:
            async with asyncio.timeout(max(timeout, 0)):
                await changed.wait()
        except TimeoutError:
            return False
        return True
