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
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


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

    __slots__ = ("_clock", "_handle", "callback", "when")

    def __init__(self, clock: Clock, when: datetime, callback: Callable[[], None]) -> None:
        self._clock = clock
        self.when = when
        self.callback = callback
        self._handle: asyncio.TimerHandle | None = None

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._clock._timers.discard(self)


class Clock:
    """Wall-clock time, in UTC, with microsecond precision."""

    can_advance = False

    def __init__(self) -> None:
        self._timers: set[Timer] = set()

    def now(self) -> datetime:
        return utc_now()

    def call_at(self, when: datetime, callback: Callable[[], None]) -> Timer:
        """Call `callback` on the running loop once the clock reads `when` or later."""
        timer = Timer(self, when, callback)
        self._timers.add(timer)
        self._arm(timer)
        return timer

    def next_timer(self) -> datetime | None:
        """When the earliest pending timer is due (None: no timer is set)."""
        return min((timer.when for timer in self._timers), default=None)

    def _arm(self, timer: Timer) -> None:
        delay = (timer.when - self.now()).total_seconds()
        loop = asyncio.get_running_loop()
        timer._handle = loop.call_later(max(delay, 0.0), self._fire, timer)

    def _fire(self, timer: Timer) -> None:
        if timer not in self._timers:
            return
        if self.now() < timer.when:  # the wall clock drifted from the loop's: not yet
            self._arm(timer)
            return
        self._timers.discard(timer)
        timer._handle = None
        timer.callback()

    def _jumped(self) -> None:
        for timer in list(self._timers):
            if timer._handle is not None:
                timer._handle.cancel()
                self._arm(timer)


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
