"""Delivers tasks: one scheduler per queue, each a heap of due times, on the server's loop.

A queue's scheduler sleeps until its earliest task is due, a token is available, or the
store or the clock tells it something changed. Each attempt runs as its own asyncio task
so a slow or hanging target holds only its own slot of the queue's concurrency cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import Counter
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from emulator.clock import Clock, VirtualClock
from emulator.dispatch import backoff, request
from emulator.dispatch.request import OutgoingRequest
from emulator.dispatch.scheduler import QueueScheduler
from emulator.dispatch.sender import Outcome, Sender
from emulator.dispatch.tokens import TokenMinter
from emulator.errors import Code
from emulator.store import Store
from emulator.store.names import QueueName, TaskName
from emulator.store.records import (
    Attempt,
    AttemptLog,
    AttemptStatus,
    HttpRequest,
    Queue,
    Task,
)

log = logging.getLogger("emulator.dispatch")


# Real seconds an attempt in flight holds a virtual clock's advance() before the clock may
# pass its deadline (a handler that has not answered by then is taken to hang).
DEFAULT_ADVANCE_GRACE = 0.2


class NotAdvanceable(Exception):
    """The emulator runs on the real clock, which cannot be moved."""

    def __str__(self) -> str:
        return (
            "the emulator runs on the real clock, which cannot be advanced; start it with "
            "--clock virtual (the pytest plugin does)"
        )


class Dispatcher:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        minter: TokenMinter,
        app_engine_url: str,
        sender: Sender | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.minter = minter
        self.app_engine_url = app_engine_url
        self.sender = sender or Sender()
        self.schedulers: dict[QueueName, QueueScheduler] = {}
        self.in_flight: Counter[int] = Counter()  # attempts under way, by id(task)
        self.pushes = itertools.count()
        self._attempts: set[asyncio.Task[None]] = set()
        # Real start time and clock deadline of each attempt in flight, for advance().
        self._deadlines: dict[asyncio.Task[None], tuple[float, datetime]] = {}
        self.advance_grace = DEFAULT_ADVANCE_GRACE
        self._closing: set[asyncio.Task[None]] = set()
        self._running = False
        self._jumped = asyncio.Event()
        self._activity = asyncio.Event()
        # Called on the loop after each attempt has been settled (tests, idle waits).
        self.attempt_listeners: list[Callable[[AttemptLog], None]] = []
        store.subscribe(self._on_change)
        clock.on_jump(self._wake_all)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._running = True
        for name in list(self.store.queue_names()):
            for task in self.store.list_tasks(name):
                self._on_change(name, task)
            self._on_change(name, None)

    async def stop(self) -> None:
        self._running = False
        for scheduler in list(self.schedulers.values()):
            await scheduler.close()
        self.schedulers.clear()
        for attempt in list(self._attempts):
            attempt.cancel()
        await asyncio.gather(*self._attempts, *self._closing, return_exceptions=True)
        await self.sender.close()

    # -- store and clock events -----------------------------------------------------------

    def _on_change(self, name: QueueName, task: Task | None) -> None:
        if not self._running:
            return
        queue = self.store.find_queue(name)
        scheduler = self.schedulers.get(name)
        if queue is None:
            if scheduler is not None:
                del self.schedulers[name]
                closing = asyncio.ensure_future(scheduler.close())
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)
            return
        if scheduler is None:
            scheduler = self.schedulers[name] = QueueScheduler(name, self, queue)
        scheduler.configure(queue)
        if task is not None:
            scheduler.push(task)
        scheduler.wake.set()

    def _wake_all(self) -> None:
        for scheduler in self.schedulers.values():
            scheduler.wake.set()
        self._jumped.set()  # attempts waiting on their deadline look at the clock again
        self._jumped = asyncio.Event()

    # -- idleness and time travel ---------------------------------------------------------

    def activity(self) -> None:
        """Something finished: a scheduler pass or an attempt. Idle waiters look again."""
        self._activity.set()

    def busy_reasons(self, *, advancing: bool = False) -> list[str]:
        """Why the dispatcher is not idle; empty when no task is due and none in flight.

        While advancing, due tasks held back by a rate limit wait for a time the clock steps
        to, and so do attempts in flight longer than the grace (their deadline)."""
        reasons = []
        young = self._young_attempts() if advancing else len(self._attempts)
        if young:
            reasons.append(f"{young} attempt(s) in flight")
        for name, scheduler in self.schedulers.items():
            if scheduler.wake.is_set():
                reasons.append(f"queue {name.queue} has changes to look at")
            elif not advancing and scheduler.rate_limited:
                reasons.append(f"queue {name.queue} has due tasks waiting for its rate limit")
        return reasons

    def _young_attempts(self) -> int:
        """Attempts in flight for less than the grace (real time), or past their deadline
        and being timed out: both settle without the clock moving."""
        cutoff = asyncio.get_running_loop().time() - self.advance_grace
        now = self.clock.now()
        return sum(
            1 for started, until in self._deadlines.values() if started > cutoff or until <= now
        )

    def _next_grace_end(self) -> float | None:
        ends = [started + self.advance_grace for started, _ in self._deadlines.values()]
        return min(ends, default=None)

    async def wait_for(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done():
            self._activity.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"{what} not reached within {timeout:g}s: {self._busy_text()}")
            grace_end = self._next_grace_end()
            if grace_end is not None and grace_end > loop.time():
                remaining = min(remaining, grace_end - loop.time() + 0.001)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._activity.wait()

    def _busy_text(self) -> str:
        return "; ".join(self.busy_reasons()) or "idle"

    async def wait_until_idle(self, timeout: float = 30) -> None:
        """Until no task is due now and no attempt is in flight (future tasks don't count)."""
        await self.wait_for(lambda: not self.busy_reasons(), timeout, "idle")

    async def advance_to(self, target: datetime, timeout: float = 60) -> None:
        """Move a virtual clock to `target`, stopping at every due time (and token refill)
        on the way, so everything due by then fires in order before this returns."""
        clock = self.clock
        if not isinstance(clock, VirtualClock):
            raise NotAdvanceable()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout

        def quiet() -> bool:
            return not self.busy_reasons(advancing=True)

        while True:
            await self.wait_for(quiet, deadline - loop.time(), "advance")
            upcoming = [s.next_at for s in self.schedulers.values() if s.next_at is not None]
            now = clock.now()
            # Deadlines already passed are being timed out; those ahead are steps.
            upcoming += [until for _, until in self._deadlines.values() if until > now]
            step = min(upcoming, default=None)
            if step is None or step > target:
                if target <= now:
                    return
                step = target
            clock.set(max(step, now))
            await asyncio.sleep(0)  # let what the jump woke run before looking again

    def queue_stats(self, name: QueueName) -> dict[str, Any]:
        """v2beta3 QueueStats, as proto3 JSON."""
        tasks = self.store.list_tasks(name)
        now = self.clock.now()
        minute_ago = now - timedelta(minutes=1)
        executed = sum(
            1
            for e in self.store.history
            if e.queue == name.queue and e.response_time and e.response_time >= minute_ago
        )
        scheduler = self.schedulers.get(name)
        queue = self.store.get_queue(name)
        stats: dict[str, Any] = {
            "tasksCount": str(len(tasks)),
            "executedLastMinuteCount": str(executed),
            "concurrentDispatchesCount": str(scheduler.in_flight if scheduler else 0),
            "effectiveExecutionRate": queue.rate_limits.max_dispatches_per_second,
        }
        if tasks:
            oldest = min(t.schedule_time for t in tasks)
            stats["oldestEstimatedArrivalTime"] = oldest.isoformat().replace("+00:00", "Z")
        return stats

    # -- attempts ------------------------------------------------------------------------

    def run_now(self, name: TaskName) -> Task:
        """RunTask: dispatch at once, ignoring pause and rate limits."""
        task = self.store.get_task(name)
        queue = self.store.get_queue(name.queue_name)
        self.start_attempt(task, queue, forced=True)
        return task

    def start_attempt(self, task: Task, queue: Queue, *, forced: bool) -> None:
        now = self.clock.now()
        number = self.store.record_dispatch(task, now)
        forced_at = now if forced else None
        self.in_flight[id(task)] += 1
        scheduler = self.schedulers.get(queue.name)
        if scheduler is not None:
            scheduler.in_flight += 1
        attempt = asyncio.create_task(self._attempt(task, queue, number, forced_at))
        self._attempts.add(attempt)
        loop_now = asyncio.get_running_loop().time()
        self._deadlines[attempt] = (loop_now, now + task.dispatch_deadline)
        attempt.add_done_callback(self._attempt_done)

    def _attempt_done(self, attempt: asyncio.Task[None]) -> None:
        self._attempts.discard(attempt)
        self._deadlines.pop(attempt, None)
        self.activity()

    async def _attempt(
        self, task: Task, queue: Queue, number: int, forced_at: datetime | None
    ) -> None:
        record = task.last_attempt
        assert record is not None
        assert record.dispatch_time is not None
        scheduler = self.schedulers.get(queue.name)
        started = asyncio.get_running_loop().time()
        try:
            log_entry, outcome = await self._deliver(task, queue, number, record)
        finally:
            self.in_flight[id(task)] -= 1
            if not self.in_flight[id(task)]:
                del self.in_flight[id(task)]
            if scheduler is not None:
                scheduler.in_flight -= 1
                scheduler.wake.set()
        now = outcome.at or self.clock.now()
        log_entry.status, log_entry.error, log_entry.response_time = (
            outcome.status,
            outcome.error,
            now,
        )
        latency_ms = (asyncio.get_running_loop().time() - started) * 1000
        result = self._settle(task, record, outcome, now, forced_at)
        for listener in self.attempt_listeners:
            listener(log_entry)
        log.info(
            "project=%s location=%s queue=%s task=%s attempt=%d %s latency=%.0fms %s",
            task.name.queue_name.project,
            task.name.queue_name.location,
            task.name.queue_name.queue,
            task.name.task,
            number,
            outcome.describe(),
            latency_ms,
            result,
        )

    async def _deliver(
        self, task: Task, queue: Queue, number: int, record: Attempt
    ) -> tuple[AttemptLog, Outcome]:
        """Build and send one attempt's request. Never raises but for cancellation: any
        failure is an outcome, so the task is always settled (retried or deleted)."""
        assert record.dispatch_time is not None
        outgoing: OutgoingRequest | None = None
        try:
            outgoing = request.build(
                task, queue, number, minter=self.minter, app_engine_url=self.app_engine_url
            )
        except ValueError as error:  # e.g. a port out of range after the URI override
            outcome = Outcome(error=f"invalid URL: {error}", error_code=Code.INVALID_ARGUMENT)
        except Exception as error:
            log.exception("cannot build the request of %s", task.name)
            outcome = Outcome(error=f"cannot build the request: {error}", error_code=Code.INTERNAL)
        queue_name = task.name.queue_name
        log_entry = AttemptLog(
            project=queue_name.project,
            location=queue_name.location,
            queue=queue_name.queue,
            task=task.name.task,
            attempt=number,
            method=outgoing.method if outgoing else "",
            url=outgoing.url if outgoing else "",
            headers=dict(outgoing.headers) if outgoing else {},
            body=outgoing.body if outgoing else b"",
            schedule_time=record.schedule_time or record.dispatch_time,
            dispatch_time=record.dispatch_time,
        )
        self.store.history.append(log_entry)
        if outgoing is None:
            return log_entry, outcome
        try:
            if self.clock.can_advance:
                deadline = record.dispatch_time + outgoing.timeout
                outcome = await self._before(deadline, self.sender.send(outgoing), outgoing)
            else:  # real time only: the sender's own timeout is the deadline
                outcome = await self.sender.send(outgoing)
        except Exception as error:
            log.exception("sending %s failed unexpectedly", task.name)
            outcome = Outcome(error=f"{type(error).__name__}: {error}", error_code=Code.INTERNAL)
        return log_entry, outcome

    async def _before(
        self, deadline: datetime, sending: Coroutine[Any, Any, Outcome], outgoing: OutgoingRequest
    ) -> Outcome:
        """The send's outcome, or a deadline failure once the clock passes `deadline`.

        The deadline follows the emulator's clock, so moving a virtual clock past it
        times the attempt out at once.
        """
        send = asyncio.ensure_future(sending)
        try:
            while not send.done():
                remaining = (deadline - self.clock.now()).total_seconds()
                if remaining <= 0:
                    send.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await send
                    seconds = outgoing.timeout.total_seconds()
                    return Outcome(
                        error=f"no response within {seconds:g}s",
                        error_code=Code.DEADLINE_EXCEEDED,
                        at=deadline,  # it failed at its deadline, however late we noticed
                    )
                waiter = asyncio.ensure_future(self._jumped.wait())
                try:
                    await asyncio.wait(
                        {send, waiter}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    waiter.cancel()
            return send.result()
        finally:
            if not send.done():
                send.cancel()

    def _settle(
        self,
        task: Task,
        record: Attempt,
        outcome: Outcome,
        now: datetime,
        forced_at: datetime | None,
    ) -> str:
        """Apply an attempt's outcome to the task; returns what happened, for the log."""
        if not self.store.is_live(task):
            return "discarded (task no longer exists)"
        is_http = isinstance(task.request, HttpRequest)
        server_error = outcome.status is not None and outcome.status >= 500
        self.store.record_result(
            task,
            attempt=record,
            status=AttemptStatus(int(outcome.code), _status_message(outcome)),
            http_status=outcome.status,
            # HTTP targets do not count 5xx answers as executions; App Engine does.
            counts_as_execution=not (is_http and server_error),
            now=now,
        )
        if outcome.succeeded:
            self.store.finish_task(task)
            return "deleted (succeeded)"
        queue = self.store.find_queue(task.name.queue_name)
        config = task.retry_config or (queue.retry_config if queue else None)
        assert config is not None
        assert task.first_attempt is not None
        assert task.first_attempt.dispatch_time is not None
        if backoff.retries_exhausted(
            config,
            attempts=task.dispatch_count,
            first_attempt=task.first_attempt.dispatch_time,
            created=task.create_time,
            now=now,
        ):
            self.store.finish_task(task)
            return "deleted (retries exhausted)"
        delay = backoff.backoff_delay(task.dispatch_count, config)
        retry_after = backoff.parse_retry_after(outcome.retry_after, now)
        if retry_after is not None:
            delay = max(delay, retry_after)
        when = (forced_at or now) + delay
        self.store.reschedule(task, when)
        return f"next={when.isoformat()}"


def _status_message(outcome: Outcome) -> str:
    if outcome.status is not None:
        return f"HTTP status {outcome.status}"
    return outcome.error or ""
