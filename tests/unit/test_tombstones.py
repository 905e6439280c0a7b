"""`emulator.store.tombstones.Tombstones`: names reserved until a time, by group."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from emulator.store.tombstones import Tombstones

T0 = datetime(2030, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_a_name_is_reserved_until_its_time() -> None:
    tombstones = Tombstones()
    tombstones.add("q", "t1", T0 + HOUR, T0)
    assert tombstones.holds("q", "t1", T0)
    assert tombstones.holds("q", "t1", T0 + HOUR - timedelta(microseconds=1))
    assert not tombstones.holds("q", "t1", T0 + HOUR)
    assert not tombstones.holds("q", "t2", T0)  # another name
    assert not tombstones.holds("other", "t1", T0)  # the same id in another group


def test_reserving_again_extends_the_reservation() -> None:
    tombstones = Tombstones()
    tombstones.add("q", "t1", T0 + HOUR, T0)
    tombstones.add("q", "t2", T0 + HOUR, T0)
    tombstones.add("q", "t1", T0 + 2 * HOUR, T0 + HOUR / 2)
    later = T0 + HOUR + timedelta(seconds=1)
    tombstones.add("q", "t3", later + HOUR, later)  # drops what expired on the way
    assert tombstones.holds("q", "t1", later)
    assert not tombstones.holds("q", "t2", later)
    assert tombstones.holds("q", "t3", later)


def test_names_out_of_expiry_order_are_still_judged_by_their_own_time() -> None:
    # A group whose time-to-live changed: a later name may expire first.
    tombstones = Tombstones()
    tombstones.add("q", "long", T0 + 9 * HOUR, T0)
    tombstones.add("q", "short", T0 + HOUR, T0)
    after = T0 + 2 * HOUR
    tombstones.add("q", "new", after + HOUR, after)
    assert not tombstones.holds("q", "short", after)
    assert tombstones.holds("q", "long", after)


def test_many_groups_and_sweeps_keep_what_is_reserved() -> None:
    tombstones = Tombstones()
    for i in range(5000):  # several sweeps of every group on the way
        now = T0 + timedelta(seconds=i)
        tombstones.add(f"q{i % 7}", f"t{i}", now + timedelta(seconds=100), now)
    end = T0 + timedelta(seconds=4999)
    held = [i for i in range(5000) if tombstones.holds(f"q{i % 7}", f"t{i}", end)]
    assert held == list(range(4900, 5000))


def test_clear_forgets_everything() -> None:
    tombstones = Tombstones()
    tombstones.add("q", "t1", T0 + HOUR, T0)
    tombstones.clear()
    assert not tombstones.holds("q", "t1", T0)
