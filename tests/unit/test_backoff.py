"""`emulator.dispatch.backoff`: the retry delay, when retries stop, and Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from emulator.core.limits import LATEST_CLOCK_TIME
from emulator.dispatch.backoff import (
    backoff_delay,
    next_attempt_at,
    parse_retry_after,
    retries_exhausted,
)
from emulator.store.records import RetryConfig

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def config(
    min_backoff: float = 0.1,
    max_backoff: float = 3600,
    max_doublings: int = 16,
    max_attempts: int = 100,
    max_retry_duration: float = 0,
) -> RetryConfig:
    return RetryConfig(
        max_attempts=max_attempts,
        max_retry_duration=timedelta(seconds=max_retry_duration),
        min_backoff=timedelta(seconds=min_backoff),
        max_backoff=timedelta(seconds=max_backoff),
        max_doublings=max_doublings,
    )


# The delay after the 1st, 2nd, ... failed attempt: doubling from min_backoff for
# max_doublings doublings, then growing by the last doubled step, capped at max_backoff.
WORKED_TABLES = [
    pytest.param(config(10, 300, 3), [10, 20, 40, 80, 160, 240, 300, 300], id="proto-example"),
    pytest.param(config(10, 200, 0), [10, 20, 30, 40, 50, 60, 70], id="linear-only"),
    pytest.param(config(1, 60, 5), [1, 2, 4, 8, 16, 32, 60, 60], id="cap-while-growing"),
    pytest.param(
        config(),  # the queue defaults: 0.1 s, 3600 s, 16 doublings
        [0.1 * 2**k for k in range(16)] + [3600, 3600],
        id="defaults",
    ),
    pytest.param(config(5, 5, 16), [5, 5, 5], id="fixed"),
    pytest.param(config(0, 0, 16), [0, 0, 0], id="none"),
]


@pytest.mark.parametrize(("retry", "delays"), WORKED_TABLES)
def test_backoff_delay_follows_the_worked_tables(retry: RetryConfig, delays: list[float]) -> None:
    observed = [backoff_delay(n, retry).total_seconds() for n in range(1, len(delays) + 1)]
    assert observed == pytest.approx(delays, abs=1e-9)


@pytest.mark.parametrize("failed_attempt", [0, -3])
def test_backoff_delay_counts_from_the_first_attempt(failed_attempt: int) -> None:
    assert backoff_delay(failed_attempt, config(10, 300, 3)) == timedelta(seconds=10)


@pytest.mark.parametrize(
    ("retry", "attempts", "elapsed", "age", "exhausted"),
    [
        # max_attempts alone.
        (config(max_attempts=3), 2, 100, 100, False),
        (config(max_attempts=3), 3, 1, 1, True),
        (config(max_attempts=1), 1, 0, 0, True),
        # max_retry_duration alone (-1: unlimited attempts).
        (config(max_attempts=-1, max_retry_duration=5), 50, 4.999, 5, False),
        (config(max_attempts=-1, max_retry_duration=5), 2, 5, 5, True),
        # Both set: both must be reached (reference §6.3's example: 3 attempts, 60 s).
        (config(max_attempts=3, max_retry_duration=60), 3, 3, 3, False),
        (config(max_attempts=3, max_retry_duration=60), 2, 100, 100, False),
        (config(max_attempts=3, max_retry_duration=60), 7, 63, 63, True),
        # Neither: only the 31-day retention, counted from the task's creation.
        (config(max_attempts=-1), 10_000, 30 * 86400, 31 * 86400 - 1, False),
        (config(max_attempts=-1), 10, 1, 31 * 86400, True),
    ],
)
def test_retries_exhausted_by_the_rule(
    retry: RetryConfig, attempts: int, elapsed: float, age: float, exhausted: bool
) -> None:
    assert (
        retries_exhausted(
            retry,
            attempts=attempts,
            first_attempt=NOW - timedelta(seconds=elapsed),
            created=NOW - timedelta(seconds=age),
            now=NOW,
        )
        is exhausted
    )


@pytest.mark.parametrize(
    ("header", "delay"),
    [
        (None, None),
        ("", None),
        ("120", 120),
        (" 7 ", 7),
        ("0", 0),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("Tue, 01 Jan 2030 12:02:00 GMT", 120),  # an HTTP date, from now
        ("Tue, 01 Jan 2030 11:00:00 GMT", 0),  # in the past: at once
        ("Tue, 01 Jan 2030 12:02:00 -0000", None),  # no time zone
        ("\u00b2", None),  # a digit to str.isdigit(), not to int()
        ("99999999999999999999999", 30 * 86400),  # capped at how far a task may be scheduled
        ("Fri, 01 Jan 2100 00:00:00 GMT", 30 * 86400),
    ],
)
def test_parse_retry_after(header: str | None, delay: float | None) -> None:
    expected = None if delay is None else timedelta(seconds=delay)
    assert parse_retry_after(header, NOW) == expected


def test_the_next_attempt_stays_representable() -> None:
    assert next_attempt_at(NOW, timedelta(seconds=5)) == NOW + timedelta(seconds=5)
    assert next_attempt_at(NOW, timedelta(days=999_999_999)) == LATEST_CLOCK_TIME
