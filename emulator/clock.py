"""Time, injectable: everything time-based in the emulator asks a `Clock`.

`RealClock` is wall-clock time. `VirtualClock` starts at real time and can be moved
forward, so tests (and later the pytest plugin) can jump over schedule times, backoffs
and tombstone TTLs without waiting for them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta


def utc_now() -> datetime:
    return datetime.now(UTC)


class Clock:
    """Wall-clock time, in UTC, with microsecond precision."""

    can_advance = False

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> datetime:
        return utc_now()

    def on_jump(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever the clock jumps (never for a real clock)."""
        self._listeners.append(listener)

    def _jumped(self) -> None:
        for listener in list(self._listeners):
            listener()


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
        """Back to real time (the offset may only be dropped when nothing depends on it)."""
        self._offset = timedelta(0)
        self._jumped()
