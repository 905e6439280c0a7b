"""How a request's values become a stored queue or task: defaults and truncations.

The wire conversion (`emulator.service.convert`) reads what the caller set and hands it here,
with None (or proto3's 0) for what was left unset; these functions apply the rules the
API documents. The limits themselves are in `emulator.core.limits`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from emulator.core import limits
from emulator.store.names import TaskName
from emulator.store.records import HttpMethod, RateLimits, RetryConfig, Task, TaskRequest


def rate_limits(max_dispatches_per_second: float, max_concurrent_dispatches: int) -> RateLimits:
    """proto3 cannot tell 0 from unset: 0 means the default for both."""
    return RateLimits(
        max_dispatches_per_second=max_dispatches_per_second
        or limits.DEFAULT_MAX_DISPATCHES_PER_SECOND,
        max_concurrent_dispatches=max_concurrent_dispatches
        or limits.DEFAULT_MAX_CONCURRENT_DISPATCHES,
    )


def retry_config(
    base: RetryConfig,
    *,
    max_attempts: int = 0,
    max_retry_duration: timedelta | None = None,
    min_backoff: timedelta | None = None,
    max_backoff: timedelta | None = None,
    max_doublings: int | None = None,
) -> RetryConfig:
    """A retry config whose unset fields (None, or 0 attempts) take `base`'s values.

    `max_retry_duration` is truncated to whole seconds; the backoffs keep sub-second
    values (the default min_backoff is 0.1 s). `max_doublings` None means unset; the
    caller decides whether a 0 on the wire was meant.
    """
    duration = base.max_retry_duration if max_retry_duration is None else max_retry_duration
    return RetryConfig(
        max_attempts=max_attempts or base.max_attempts,
        max_retry_duration=whole_seconds(duration),
        min_backoff=base.min_backoff if min_backoff is None else min_backoff,
        max_backoff=base.max_backoff if max_backoff is None else max_backoff,
        max_doublings=base.max_doublings if max_doublings is None else max_doublings,
    )


def method(value: HttpMethod) -> HttpMethod:
    """An unset method is POST."""
    return value or HttpMethod.POST


def new_task(
    name: TaskName,
    request: TaskRequest,
    *,
    schedule_time: datetime | None,
    dispatch_deadline: timedelta | None,
    retry_config: RetryConfig | None,
    now: datetime,
) -> Task:
    """A task as CreateTask stores it: an unset or past schedule time is now, the create
    time whole seconds, the deadline milliseconds (10 minutes when unset or 0)."""
    return Task(
        name=name,
        request=request,
        schedule_time=max(schedule_time or now, now),
        create_time=now.replace(microsecond=0),
        dispatch_deadline=whole_millis(dispatch_deadline)
        if dispatch_deadline
        else limits.DEFAULT_DISPATCH_DEADLINE,
        retry_config=retry_config,
    )


def whole_seconds(td: timedelta) -> timedelta:
    return timedelta(seconds=int(td.total_seconds()))


def whole_millis(td: timedelta) -> timedelta:
    return timedelta(milliseconds=int(td / timedelta(milliseconds=1)))
