"""The test-control operations: reset, advance the clock, wait until idle, read attempts,
switch production's rough edges on and off.

One implementation on the server's loop, reached three ways: `emulator.Emulator` in
Python, HTTP under /_emulator/, and the EmulatorControl gRPC service (protos/).

Advancing steps a virtual clock through every time something is due on the way: a task's
schedule time, a queue's next token, an attempt's deadline (all of them timers on the
clock). Before each step it waits until nothing can happen without the clock moving.
An attempt in flight holds the clock for `advance_grace` real seconds; a handler that
has not answered by then is taken to hang, and the clock may pass its deadline.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from emulator.core import errors, limits
from emulator.core.clock import Clock, VirtualClock, real_seconds, rfc3339, yield_to_loop
from emulator.core.rough_edges import RoughEdges, RoughEdgesState
from emulator.dispatch.rough_edges import RoughEdgesRegistry
from emulator.dispatch.view import AttemptInFlight, DeliveryView
from emulator.store import Store
from emulator.store.names import QueueName
from emulator.store.records import Attempt

DEFAULT_ADVANCE_TIMEOUT = 60.0
DEFAULT_IDLE_TIMEOUT = 30.0
DEFAULT_ADVANCE_GRACE = 0.2


class Control:
    def __init__(
        self,
        store: Store,
        delivery: DeliveryView,
        clock: Clock,
        reset: Callable[[], None],
        *,
        advance_grace: float = DEFAULT_ADVANCE_GRACE,
        rough_edges: RoughEdgesRegistry | None = None,
        default_parent: str = f"projects/local-project/locations/{limits.DEFAULT_LOCATION}",
    ) -> None:
        """`default_parent`: where a short queue id of `set_rough_edges` is."""
        self.store, self.delivery, self.clock = store, delivery, clock
        self._reset = reset
        self.advance_grace = advance_grace
        self.edges = rough_edges or RoughEdgesRegistry()
        self.default_parent = default_parent

    def reset(self) -> None:
        self._reset()

    # -- what is still busy ----------------------------------------------------------------

    def busy(self, *, advancing: bool = False) -> list[str]:
        """Why the emulator is not idle; empty when nothing is due now and nothing is in
        flight. While advancing, what waits for a time the clock will step to does not
        count: tasks held by a rate limit, attempts past the grace before their deadline.
        """
        delivery, now = self.delivery, self.clock.now()
        reasons = [
            f"queue {name.queue} has changes to look at" for name in delivery.queues_to_look_at()
        ]
        grace_start = real_seconds() - self.advance_grace
        busy = [
            entry
            for entry in delivery.attempts_in_flight()
            if not advancing or _holds_the_clock(entry, now, grace_start)
        ]
        if busy:
            reasons.append(f"{len(busy)} attempt(s) in flight")
        if advancing:
            due = self.clock.next_timer()
            if due is not None and due <= now:
                reasons.append("timers due")
        else:
            reasons += [
                f"queue {name.queue} has due tasks waiting for its rate limit"
                for name in delivery.rate_limited_queues()
            ]
        return reasons

    async def _wait_for(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        """Until `done()`, looking again after every dispatcher pass and attempt, and when
        an attempt's grace ends; TimeoutError naming what is busy after `timeout`."""
        end = real_seconds() + timeout
        while not done():
            remaining = end - real_seconds()
            if remaining <= 0:
                busy = "; ".join(self.busy()) or "idle"
                raise TimeoutError(f"{what} not reached within {timeout:g}s: {busy}")
            graces = [e.started + self.advance_grace for e in self.delivery.attempts_in_flight()]
            grace_end = min((g for g in graces if g > real_seconds()), default=None)
            if grace_end is not None:
                remaining = min(remaining, grace_end - real_seconds() + 0.001)
            await self.delivery.wait_for_change(remaining)

    async def wait_until_idle(self, timeout: float = DEFAULT_IDLE_TIMEOUT) -> None:
        """Until no task is due now and no attempt is in flight (future tasks don't count)."""
        try:
            await self._wait_for(lambda: not self.busy(), timeout, "idle")
        except TimeoutError as error:
            raise errors.DeadlineExceeded(str(error)) from None

    # -- advance -----------------------------------------------------------------------------

    async def advance(
        self,
        by: timedelta | None = None,
        *,
        to: datetime | None = None,
        timeout: float = DEFAULT_ADVANCE_TIMEOUT,
    ) -> datetime:
        """Jump the clock by `by` or to `to`; returns once everything due has fired."""
        clock = self.clock
        if not isinstance(clock, VirtualClock):
            raise errors.NotAdvanceable()
        target = self._target(clock, by, to)
        end = real_seconds() + timeout
        try:
            while True:
                await self._wait_for(
                    lambda: not self.busy(advancing=True), end - real_seconds(), "advance"
                )
                now = clock.now()
                step = clock.next_timer()
                if step is None or step > target:
                    if target <= now:
                        return clock.now()
                    step = target
                clock.set(max(step, now))
                await yield_to_loop()  # let what the jump woke run before looking again
        except TimeoutError as error:
            raise errors.DeadlineExceeded(str(error)) from None
        finally:
            self.store.save_clock_offset(clock.offset)  # survives a restart (--data-dir)

    @staticmethod
    def _target(clock: Clock, by: timedelta | None, to: datetime | None) -> datetime:
        if (by is None) == (to is None):
            raise errors.InvalidArgument("Give exactly one of: how far to advance, or to when.")
        if by is not None and by < timedelta(0):
            raise errors.InvalidArgument("The clock only moves forward: the step is negative.")
        if to is not None and to.tzinfo is None:
            raise errors.InvalidArgument("The time to advance to needs a time zone.")
        now, latest = clock.now(), limits.LATEST_CLOCK_TIME
        if to is not None and to < now:
            raise errors.InvalidArgument(
                f"The clock only moves forward: {rfc3339(to)} is before its current time "
                f"{rfc3339(now)}."
            )
        try:
            target = to if to is not None else now + (by or timedelta(0))
        except OverflowError:
            target = latest + timedelta(microseconds=1)
        if target > latest:
            raise errors.InvalidArgument(f"The clock cannot move past {latest.date().isoformat()}.")
        return target

    # -- production's rough edges (docs/production-parity.md) ------------------------

    def rough_edges(self, queue: str | None = None) -> RoughEdgesState:
        """What applies to `queue` (an id in the default parent, or a full name; None: the
        whole emulator's settings)."""
        name = self._queue_name(queue)
        config, own = self.edges.settings(name)
        rate = self.delivery.enforced_rate(name) if name is not None else None
        return RoughEdgesState(config, own, rate)

    def set_rough_edges(self, queue: str | None, edges: RoughEdges | None) -> RoughEdgesState:
        """Switch rough edges on or off for `queue` (None: every queue without its own);
        `edges` None: as at start-up. A queue need not exist yet."""
        name = self._queue_name(queue)
        self.edges.set(name, edges)
        return self.rough_edges(queue)

    def _queue_name(self, queue: str | None) -> QueueName | None:
        if not queue:
            return None
        full = queue if queue.startswith("projects/") else f"{self.default_parent}/queues/{queue}"
        try:
            return QueueName.parse(full)
        except errors.InvalidArgument:
            raise errors.InvalidArgument(
                f"Not a queue id or name: {queue!r} (an id such as emails, or "
                "projects/P/locations/L/queues/Q)."
            ) from None

    # -- attempts ----------------------------------------------------------------------------

    async def wait_for_attempts(
        self,
        count: int,
        queue: str | None = None,
        task: str | None = None,
        timeout: float = DEFAULT_IDLE_TIMEOUT,
    ) -> list[Attempt]:
        """The settled attempts (answered, failed or timed out) of `queue`/`task`, oldest
        first, once there are at least `count` of them."""
        if count < 0:
            raise errors.InvalidArgument(f"The count must not be negative, got {count}.")
        if count > self.store.attempts.size:
            raise errors.InvalidArgument(
                f"Only the newest {self.store.attempts.size} attempts are kept "
                f"(--attempt-history): {count} can never have settled."
            )

        def settled() -> list[Attempt]:
            return [a for a in self.attempts(queue, task) if a.response_time is not None]

        try:
            await self._wait_for(
                lambda: len(settled()) >= count, timeout, f"{count} settled attempt(s)"
            )
        except TimeoutError as error:
            raise errors.DeadlineExceeded(f"{error} ({len(settled())} settled)") from None
        return settled()

    def attempts(self, queue: str | None = None, task: str | None = None) -> list[Attempt]:
        """Attempts, oldest first, of a queue (a short id matches that id in every project
        and location; a full name only that queue) and/or a task (id or full name)."""
        return [
            entry
            for entry in self.store.attempts.all()
            if _matches(queue, entry.queue, entry.queue_name)
            and _matches(task, entry.task, entry.task_name)
        ]


def _holds_the_clock(entry: AttemptInFlight, now: datetime, grace_start: float) -> bool:
    """While advancing, whether an attempt in flight keeps the clock where it is: within
    its grace, or past its deadline; waiting for a dispatch latency (rough edges), once
    that has passed (it is about to be sent)."""
    if entry.waiting_until is not None:
        return entry.waiting_until <= now
    return entry.started > grace_start or entry.deadline <= now


def _matches(wanted: str | None, short_id: str, full_name: str) -> bool:
    if not wanted:
        return True
    return wanted == full_name if "/" in wanted else wanted == short_id


def attempt_json(entry: Attempt) -> dict[str, Any]:
    """An attempt as JSON: the same fields, the bodies (the request's and the first bytes
    of the answer) in base64, times in RFC 3339."""

    def when(value: datetime | None) -> str | None:
        return rfc3339(value) if value else None

    fields: dict[str, Any] = {
        "project": entry.project,
        "location": entry.location,
        "queue": entry.queue,
        "task": entry.task,
        "attempt": entry.attempt,
        "method": entry.method,
        "url": entry.url,
        "headers": entry.headers,
        "body": base64.b64encode(entry.body).decode(),
        "status": entry.status,
        "error": entry.error,
        "response_body": base64.b64encode(entry.response_body).decode(),
        "schedule_time": when(entry.schedule_time),
        "dispatch_time": when(entry.dispatch_time),
        "response_time": when(entry.response_time),
        "latency_seconds": entry.latency,
        "result": entry.result,
        "next_attempt": when(entry.next_attempt),
        "backoff": entry.backoff,
    }
    if entry.duplicate:  # a duplicate delivery (rough edges) says so; others as ever
        fields["duplicate"] = True
    return fields
