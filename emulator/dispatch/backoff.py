"""When a failed task runs again, and when it stops: pure functions of the RetryConfig.

The rules are those of the Cloud Tasks RetryConfig reference (min_backoff doubling
max_doublings times, then growing linearly, capped at max_backoff; retries stop when
both max_attempts and max_retry_duration are reached); docs/behaviour.md ("Delivery") states them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from emulator.core import limits
from emulator.store.records import RetryConfig

# A Retry-After longer than a task may be scheduled ahead is read as that long.
MAX_RETRY_AFTER = limits.MAX_SCHEDULE_AHEAD
_CAP_SECONDS = int(MAX_RETRY_AFTER.total_seconds())


@dataclass(frozen=True)
class Delay:
    """The wait before the next attempt, which rule chose it, and why (for people)."""

    delay: timedelta
    rule: str  # "min_backoff", "doubling", "linear", "max_backoff" or "Retry-After"
    why: str


def choose_delay(
    failed_attempt: int, config: RetryConfig, retry_after: timedelta | None = None
) -> Delay:
    """The delay after the `failed_attempt`-th attempt (1-based) failed.

    Doubling from min_backoff for max_doublings doublings, then growing linearly by the
    last doubled step, capped at max_backoff; a longer Retry-After wins.
    """
    k, d, low = max(failed_attempt, 1), config.max_doublings, config.min_backoff
    if k == 1:
        raw, rule = low, "min_backoff"
        formula = seconds(low)
        why = f"min_backoff: {formula} after the first failure"
    elif k <= d + 1:
        raw, rule = low * 2 ** (k - 1), "doubling"
        formula = f"{seconds(low)} x 2^{k - 1} = {seconds(raw)}"
        why = f"doubling: {formula} (max_doublings {d})"
    else:
        raw, rule = low * 2**d * (k - d), "linear"
        formula = f"{seconds(low)} x 2^{d} x {k - d} = {seconds(raw)}"
        why = f"linear: {formula} (after max_doublings {d})"
    delay = raw
    if raw > config.max_backoff:
        delay = config.max_backoff
        why = f"max_backoff: {seconds(delay)}, less than {rule} {formula}"
        rule = "max_backoff"
    if retry_after is not None and retry_after > delay:
        why = (
            f"Retry-After: {seconds(retry_after)}, more than the backoff ({rule} {seconds(delay)})"
        )
        delay, rule = retry_after, "Retry-After"
    return Delay(delay, rule, why)


def backoff_delay(failed_attempt: int, config: RetryConfig) -> timedelta:
    """Delay after the `failed_attempt`-th attempt (1-based) failed (no Retry-After)."""
    return choose_delay(failed_attempt, config).delay


def seconds(delay: timedelta) -> str:
    """`0.1s`, `30s`, `3600s`: a duration as the API writes it."""
    return f"{delay.total_seconds():g}s"


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


def retry_limits(config: RetryConfig, *, attempts: int, first_attempt: datetime | None,
                 created: datetime) -> str:  # fmt: skip
    """What will stop a task's retries, given the attempts it has had (for people)."""
    count_limited = config.max_attempts != limits.UNLIMITED_ATTEMPTS
    time_limited = config.max_retry_duration > timedelta(0)
    left = f"{max(config.max_attempts - attempts, 0)} left"
    start = first_attempt or created
    until = next_attempt_at(start, config.max_retry_duration).isoformat()
    duration = seconds(config.max_retry_duration)
    if count_limited and time_limited:
        return (
            f"stops once both max_attempts {config.max_attempts} ({left}) and "
            f"max_retry_duration {duration} (at {until}) are reached"
        )
    if count_limited:
        return f"stops after attempt {config.max_attempts} (max_attempts; {left})"
    if time_limited:
        return f"stops at the first failure after {until} (max_retry_duration {duration})"
    retention = next_attempt_at(created, limits.TASK_RETENTION).isoformat()
    return f"retried until it is 31 days old, at {retention} (no limit set)"


def exhausted_reason(config: RetryConfig) -> str:
    """Which limit ended a task's retries (once `retries_exhausted` said so)."""
    count_limited = config.max_attempts != limits.UNLIMITED_ATTEMPTS
    time_limited = config.max_retry_duration > timedelta(0)
    count = f"max_attempts {config.max_attempts}"
    duration = f"max_retry_duration {seconds(config.max_retry_duration)}"
    if count_limited and time_limited:
        return f"{count} and {duration} both reached"
    if count_limited or time_limited:
        return f"{count if count_limited else duration} reached"
    return "the task is 31 days old (no limit set)"


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A Retry-After header (delay seconds or an HTTP date) as a delay from `now`, at most
    MAX_RETRY_AFTER; None when absent or unusable (the backoff alone then applies)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(timedelta(seconds=min(int(value), _CAP_SECONDS)), MAX_RETRY_AFTER)
    from email.utils import parsedate_to_datetime  # noqa: PLC0415  (an HTTP date: rare)

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
