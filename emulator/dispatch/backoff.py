"""When a failed task runs again, and when it stops: pure functions of the RetryConfig.

The rules are those of the Cloud Tasks RetryConfig reference (min_backoff doubling
max_doublings times, then growing linearly, capped at max_backoff; retries stop when
both max_attempts and max_retry_duration are reached); the README works the examples.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from emulator.store import limits
from emulator.store.records import RetryConfig

# A Retry-After longer than a task may be scheduled ahead is read as that long.
MAX_RETRY_AFTER = limits.MAX_SCHEDULE_AHEAD
_CAP_SECONDS = int(MAX_RETRY_AFTER.total_seconds())


def backoff_delay(failed_attempt: int, config: RetryConfig) -> timedelta:
    """Delay after the `failed_attempt`-th attempt (1-based) failed.

    Doubling from min_backoff for max_doublings doublings, then growing linearly by the
    last doubled step, capped at max_backoff.
    """
    k, d = max(failed_attempt, 1), config.max_doublings
    doubling = k <= d + 1
    raw: timedelta = config.min_backoff * (2 ** (k - 1) if doubling else 2**d * (k - d))
    return min(raw, config.max_backoff)


def retries_exhausted(
    config: RetryConfig,
    *,
    attempts: int,
    first_attempt: datetime,
    created: datetime,
    now: datetime,
) -> bool:
    """Whether a task whose latest attempt just failed is deleted instead of retried.

    Both limits must be reached when both are set; an unlimited one (-1 attempts, 0 s
    duration) imposes nothing; with neither, only the 31-day retention ends retries.
    """
    count_limited = config.max_attempts != limits.UNLIMITED_ATTEMPTS
    time_limited = config.max_retry_duration > timedelta(0)
    count_reached = attempts >= config.max_attempts
    time_reached = now - first_attempt >= config.max_retry_duration
    if count_limited and time_limited:
        return count_reached and time_reached
    if count_limited:
        return count_reached
    if time_limited:
        return time_reached
    return now - created >= limits.TASK_RETENTION


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A Retry-After header (delay seconds or an HTTP date) as a delay from `now`, at most
    MAX_RETRY_AFTER; None when absent or unusable (the backoff alone then applies)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(timedelta(seconds=min(int(value), _CAP_SECONDS)), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(when - now, timedelta(0)), MAX_RETRY_AFTER)


def next_attempt_at(base: datetime, delay: timedelta) -> datetime:
    """`base + delay`, kept within the times the emulator can represent (a max_backoff of
    years would otherwise overflow)."""
    try:
        return min(base + delay, limits.LATEST_CLOCK_TIME)
    except OverflowError:
        return limits.LATEST_CLOCK_TIME
