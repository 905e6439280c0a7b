"""A task's attempt counters, as each attempt is recorded.

Called by the `Store` alone (`record_dispatch`, `settle`), which writes the task record
and what happens to it afterwards (rescheduled, finished) in one operation.
"""

from __future__ import annotations

from datetime import datetime

from emulator.store.records import AttemptTimes, ResponseStatus, Task

# The fields of a task each function changes (the data directory writes only those).
DISPATCH_FIELDS = ("dispatch_count", "first_attempt", "last_attempt")
RESULT_FIELDS = ("response_count", "execution_count", "previous_response", "last_attempt")


def record_dispatch(task: Task, now: datetime) -> AttemptTimes:
    """Count an attempt that starts now; returns its summary (the new `last_attempt`)."""
    task.dispatch_count += 1
    task.last_attempt = AttemptTimes(schedule_time=task.schedule_time, dispatch_time=now)
    if task.first_attempt is None:
        task.first_attempt = AttemptTimes(dispatch_time=now)
    return task.last_attempt


def record_result(
    task: Task,
    attempt: AttemptTimes,
    *,
    status: ResponseStatus,
    http_status: int | None,
    counts_as_execution: bool,
    now: datetime,
) -> None:
    """Complete `attempt` (the one this result answers) with its outcome."""
    attempt.response_time = now
    attempt.response_status = status
    if http_status is not None:
        task.response_count += 1
        task.execution_count += counts_as_execution
    task.previous_response = http_status
