"""`emulator.core.clock`: timers on a virtual clock fire in time order when it jumps, once;
cancelled ones never fire and do not count as pending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from emulator.core.clock import VirtualClock, yield_to_loop

START = datetime(2030, 1, 1, tzinfo=UTC)


async def turns() -> None:
    """A few turns of the loop: a jump re-arms the clock's loop timer at delay 0, which
    runs on the next turn (no time passes)."""
    for _ in range(5):
        await yield_to_loop()


async def test_timers_fire_in_order_when_the_clock_passes_them() -> None:
    clock = VirtualClock(start=START)
    fired: list[str] = []
    for name, minutes in [("c", 30), ("a", 10), ("b", 20)]:
        clock.call_at(START + timedelta(minutes=minutes), lambda n=name: fired.append(n))
    assert clock.next_timer() == START + timedelta(minutes=10)
    clock.advance(timedelta(minutes=25))
    await turns()
    assert fired == ["a", "b"]
    assert clock.next_timer() == START + timedelta(minutes=30)
    clock.advance(timedelta(hours=1))
    await turns()
    assert fired == ["a", "b", "c"]
    assert clock.next_timer() is None


async def test_a_cancelled_timer_never_fires_nor_counts() -> None:
    clock = VirtualClock(start=START)
    fired: list[int] = []
    early = clock.call_at(START + timedelta(seconds=1), lambda: fired.append(1))
    clock.call_at(START + timedelta(seconds=2), lambda: fired.append(2))
    early.cancel()
    early.cancel()  # twice is harmless
    assert clock.next_timer() == START + timedelta(seconds=2)
    clock.advance(10)
    await turns()
    assert fired == [2]


async def test_many_cancelled_timers_leave_the_live_ones_working() -> None:
    clock = VirtualClock(start=START)
    fired: list[int] = []
    keep = []
    for i in range(5000):  # like attempts' deadlines: nearly all cancelled
        timer = clock.call_at(START + timedelta(minutes=10, seconds=i), lambda i=i: fired.append(i))
        if i % 1000:
            timer.cancel()
        else:
            keep.append(i)
    assert clock.next_timer() == START + timedelta(minutes=10)
    clock.advance(timedelta(hours=3))
    await turns()
    assert fired == keep


async def test_a_timer_set_by_a_firing_one_fires_too() -> None:
    clock = VirtualClock(start=START)
    fired: list[str] = []

    def first() -> None:
        fired.append("first")
        clock.call_at(START + timedelta(seconds=5), lambda: fired.append("second"))

    clock.call_at(START + timedelta(seconds=1), first)
    clock.advance(10)
    await turns()
    assert fired == ["first", "second"]


async def test_a_failing_callback_does_not_stop_the_others() -> None:
    clock = VirtualClock(start=START)
    fired: list[int] = []

    def broken() -> None:
        raise RuntimeError("a bug")

    clock.call_at(START + timedelta(seconds=1), broken)
    clock.call_at(START + timedelta(seconds=2), lambda: fired.append(2))
    clock.advance(10)
    await turns()
    assert fired == [2]
