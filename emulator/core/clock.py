"""Time, injectable, and the one way to wait for it.

Everything in the emulator that reads the time asks a `Clock`, and everything that waits
for a time (a queue's next due task or token, an attempt's deadline) sets a timer on it
with `call_at()`. `RealClock` is wall-clock time. `VirtualClock` is real time plus an
offset that `advance()` grows: its timers are re-armed on every jump, so a timer whose
time the jump passed fires at once. `next_timer()` tells a caller stepping the clock
where the next thing happens.

Timers run on the event loop that set them, and only there.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

log = logging.getLogger("emulator")


def utc_now() -> datetime:
    return datetime.now(UTC)


def real_seconds() -> float:
    """A monotonic reading in seconds, for real durations (never for the emulator's time)."""
    return time.monotonic()


def rfc3339(dt: datetime) -> str:
    """A UTC time the way Google's JSON writes it: `2030-01-01T00:00:00.123456Z`."""
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def yield_to_loop() -> None:
    """Let every callback that is ready run before going on (not a wait for a time)."""
    await asyncio.sleep(0)


async def pace(seconds: float) -> None:
    """Let `seconds` of real time pass: for pacing output to people (the dashboard's live
    updates), never for waiting on the emulator's own work (use events and timers)."""
    await asyncio.sleep(seconds)


class Timer:
    """A callback due at a clock time; `cancel()` before it fires and it never does."""

    __slots__ = ("_clock", "callback", "cancelled", "when")

    def __init__(self, clock: Clock, when: datetime, callback: Callable[[], None]) -> None:
        self._clock = clock
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            self._clock._live -= 1


class Clock:
    """Wall-clock time, in UTC, with microsecond precision.

    Its timers wait in one heap, and one timer of the event loop is armed for the
    earliest of them: setting or cancelling a timer (an attempt's deadline, a queue's
    next wake-up) costs a heap push or a flag, not a loop timer each. Cancelled timers
    stay in the heap until they come to its top, or until there are more of them than
    live ones (then the heap is rebuilt).
    """

    can_advance = False

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, int, Timer]] = []
        self._pushes = itertools.count()
        self._live = 0
        self._handle: asyncio.TimerHandle | None = None
        self._armed_for: datetime | None = None

    def now(self) -> datetime:
        return utc_now()

    def call_at(self, when: datetime, callback: Callable[[], None]) -> Timer:
        """Call `callback` on the running loop once the clock reads `when` or later."""
        timer = Timer(self, when, callback)
        heapq.heappush(self._heap, (when, next(self._pushes), timer))
        self._live += 1
        if len(self._heap) > 2 * self._live + 1024:
            self._compact()
        if self._armed_for is None or when < self._armed_for:
            self._arm()
        return timer

    async def wait_until(self, when: datetime) -> None:
        """Until the clock reads `when` (a timer; cancelling the waiter cancels it)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def fire() -> None:
            if not done.done():
                done.set_result(None)

        timer = self.call_at(when, fire)
        try:
            await done
        finally:
            timer.cancel()

    def next_timer(self) -> datetime | None:
        """When the earliest pending timer is due (None: no timer is set)."""
        self._drop_cancelled()
        return self._heap[0][0] if self._heap else None

    def _drop_cancelled(self) -> None:
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)

    def _compact(self) -> None:
        self._heap = [entry for entry in self._heap if not entry[2].cancelled]
        heapq.heapify(self._heap)

    def _arm(self) -> None:
        """(Re)arm the loop's one timer for the earliest pending timer."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        when = self.next_timer()
        self._armed_for = when
        if when is None:
            return
        delay = (when - self.now()).total_seconds()
        loop = asyncio.get_running_loop()
        self._handle = loop.call_later(max(delay, 0.0), self._fire)

    def _fire(self) -> None:
        self._handle = None
        now = self.now()
        heap = self._heap
        while heap and (heap[0][2].cancelled or heap[0][0] <= now):
            _, _, timer = heapq.heappop(heap)
            if not timer.cancelled:
                timer.cancel()  # fired: no longer pending
                try:
                    timer.callback()
                except Exception:  # one timer's failure must not stop the others
                    log.exception("a timer's callback failed")
        self._arm()  # (if the wall clock drifted from the loop's, this re-arms early)

    def _jumped(self) -> None:
        if self._heap:
            self._arm()


RealClock = Clock


class VirtualClock(Clock):
    """Real time plus an offset that only grows: `advance()` jumps forward.

    Real timeouts keep working (time still flows at real speed between jumps), and
    anything due before the new time becomes due at once.
    """

    can_advance = True

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__()
        self._offset = timedelta(0) if start is None else start - utc_now()

    def now(self) -> datetime:
        return utc_now() + self._offset

    @property
    def offset(self) -> timedelta:
        return self._offset

    def advance(self, delta: timedelta | float) -> datetime:
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            raise ValueError("the clock only moves forward")
        self._offset += step
        self._jumped()
        return self.now()

    def set(self, when: datetime) -> datetime:
        """Jump to `when` (never backwards: an earlier time leaves the clock alone)."""
        step = when - self.now()
        return self.advance(step) if step > timedelta(0) else self.now()

    def reset(self) -> None:
        """Back to real time (the emulator resets its state with it)."""
        self._offset = timedelta(0)
        self._jumped()
