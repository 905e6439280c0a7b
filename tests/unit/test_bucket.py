"""`emulator.dispatch.bucket.TokenBucket`: capacity = burst size, refilled at the rate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from emulator.dispatch.bucket import TokenBucket

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# Each row: rate, capacity, and the takes to try as (seconds after T0, granted?).
TAKES = [
    pytest.param(1, 1, [(0, True), (0, False), (0.999, False), (1, True)], id="one-per-second"),
    pytest.param(0.5, 1, [(0, True), (1, False), (2, True), (3, False), (4, True)], id="half"),
    pytest.param(
        5, 5, [(0, True)] * 5 + [(0, False), (0.2, True), (0.2, False), (1.2, True)], id="burst"
    ),
    # Idle time refills up to the capacity, never beyond.
    pytest.param(10, 2, [(0, True), (0, True), (100, True), (100, True), (100, False)], id="cap"),
    # Ten refills of 0.1 token add up to 0.9999999999999999 in floating point: a token.
    pytest.param(
        1, 1, [(0, True), *[(k / 10, False) for k in range(1, 10)], (1, True)], id="float-sum"
    ),
    pytest.param(0.001, 1, [(0, True), (999, False), (1000, True)], id="slow"),
]


@pytest.mark.parametrize(("rate", "capacity", "takes"), TAKES)
def test_take_grants_what_the_bucket_holds(
    rate: float, capacity: int, takes: list[tuple[float, bool]]
) -> None:
    bucket = TokenBucket(rate, capacity, T0)  # starts full
    assert [bucket.take(at(when)) for when, _ in takes] == [granted for _, granted in takes]


@pytest.mark.parametrize(
    ("rate", "capacity", "taken", "next_at"),
    [
        (1, 1, 0, 0),  # full: a token now
        (1, 1, 1, 1),
        (0.5, 1, 1, 2),
        (5, 5, 5, 0.2),
        (5, 5, 2, 0),
    ],
)
def test_next_token_at(rate: float, capacity: int, taken: int, next_at: float) -> None:
    bucket = TokenBucket(rate, capacity, T0)
    for _ in range(taken):
        assert bucket.take(T0)
    assert (bucket.next_token_at(T0) - T0).total_seconds() == pytest.approx(next_at)


@pytest.mark.parametrize(
    ("before", "after", "taken", "then"),
    [
        # (rate, capacity) before and after; tokens taken first; takes granted at once after.
        ((0.001, 1), (5, 5), 0, 1),  # earned tokens are kept, not topped up to the new burst
        ((10, 10), (1, 3), 0, 3),  # a smaller burst trims the tokens held
        ((10, 10), (10, 10), 4, 6),
    ],
)
def test_configure_keeps_earned_tokens_up_to_the_new_capacity(
    before: tuple[float, int], after: tuple[float, int], taken: int, then: int
) -> None:
    bucket = TokenBucket(*before, T0)
    for _ in range(taken):
        assert bucket.take(T0)
    bucket.configure(*after, T0)
    granted = 0
    while bucket.take(T0):
        granted += 1
    assert granted == then


def test_configure_takes_effect_for_the_refill() -> None:
    bucket = TokenBucket(0.001, 1, T0)
    assert bucket.take(T0)
    bucket.configure(100, 1, at(0))
    assert not bucket.take(at(0.009))
    assert bucket.take(at(0.01))
