"""The test-control operations: reset, advance the clock, wait until idle, read attempts.

One implementation on the server's loop, reached three ways: `emulator.Emulator` in
Python, HTTP under /_emulator/, and the EmulatorControl gRPC service (protos/).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from emulator import errors
from emulator.clock import Clock
from emulator.dispatch.dispatcher import Dispatcher, NotAdvanceable
from emulator.store import Store, limits
from emulator.store.records import AttemptLog

DEFAULT_ADVANCE_TIMEOUT = 60.0
DEFAULT_IDLE_TIMEOUT = 30.0


class Control:
    def __init__(
        self, store: Store, dispatcher: Dispatcher, clock: Clock, reset: Callable[[], None]
    ) -> None:
        self.store, self.dispatcher, self.clock = store, dispatcher, clock
        self._reset = reset

    def reset(self) -> None:
        self._reset()

    async def advance(
        self,
        by: timedelta | None = None,
        *,
        to: datetime | None = None,
        timeout: float = DEFAULT_ADVANCE_TIMEOUT,
    ) -> datetime:
        """Jump the clock by `by` or to `to`; returns once everything due has fired."""
        clock = self.clock
        if (by is None) == (to is None):
            raise errors.InvalidArgument("Give exactly one of: how far to advance, or to when.")
        if by is not None and by < timedelta(0):
            raise errors.InvalidArgument("The clock only moves forward: the step is negative.")
        if to is not None and to.tzinfo is None:
            raise errors.InvalidArgument("The time to advance to needs a time zone.")
        latest = limits.LATEST_CLOCK_TIME
        try:
            target = to if to is not None else clock.now() + (by or timedelta(0))
        except OverflowError:
            target = latest + timedelta(microseconds=1)
        if target > latest:
            raise errors.InvalidArgument(f"The clock cannot move past {latest.date().isoformat()}.")
        if to is not None and to < clock.now():
            raise errors.InvalidArgument(
                f"The clock only moves forward: {to.isoformat()} is before its current time "
                f"{clock.now().isoformat()}."
            )
        try:
            await self.dispatcher.advance_to(target, timeout=timeout)
        except NotAdvanceable as error:
            raise errors.FailedPrecondition(str(error)) from None
        except TimeoutError as error:
            raise errors.DeadlineExceeded(str(error)) from None
        return clock.now()

    async def wait_until_idle(self, timeout: float = DEFAULT_IDLE_TIMEOUT) -> None:
        try:
            await self.dispatcher.wait_until_idle(timeout)
        except TimeoutError as error:
            raise errors.DeadlineExceeded(str(error)) from None

    async def wait_for_attempts(
        self,
        count: int,
        queue: str | None = None,
        task: str | None = None,
        timeout: float = DEFAULT_IDLE_TIMEOUT,
    ) -> list[AttemptLog]:
        """The settled attempts (answered, failed or timed out) of `queue`/`task`, oldest
        first, once there are at least `count` of them."""
        if count < 0:
            raise errors.InvalidArgument(f"The count must not be negative, got {count}.")

        def settled() -> list[AttemptLog]:
            return [a for a in self.attempts(queue, task) if a.response_time is not None]

        try:
            await self.dispatcher.wait_for(
                lambda: len(settled()) >= count, timeout, f"{count} settled attempt(s)"
            )
        except TimeoutError as error:
            raise errors.DeadlineExceeded(f"{error} ({len(settled())} settled)") from None
        return settled()

    def attempts(self, queue: str | None = None, task: str | None = None) -> list[AttemptLog]:
        """Attempts, oldest first, of a queue (a short id matches that id in every project
        and location; a full name only that queue) and/or a task (id or full name)."""
        return [
            entry
            for entry in self.store.history
            if _matches(queue, entry.queue, entry.queue_name)
            and _matches(task, entry.task, entry.task_name)
        ]


def _matches(wanted: str | None, short_id: str, full_name: str) -> bool:
    if not wanted:
        return True
    return wanted == full_name if "/" in wanted else wanted == short_id


def attempt_json(entry: AttemptLog) -> dict[str, Any]:
    """An attempt as JSON: the same fields, the body in base64, times in RFC 3339."""

    def when(value: datetime | None) -> str | None:
        return value.isoformat().replace("+00:00", "Z") if value else None

    return {
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
        "schedule_time": when(entry.schedule_time),
        "dispatch_time": when(entry.dispatch_time),
        "response_time": when(entry.response_time),
    }
