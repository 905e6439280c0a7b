"""One delivery attempt: build the request, send it before its deadline, settle the task.

The deadline is a timer on the emulator's clock, so moving a virtual clock past it times
the attempt out at once. Whatever goes wrong is an outcome, never an exception that
escapes: the task is always settled (retried or deleted), and the attempt recorded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from emulator.core import limits
from emulator.core.clock import Clock, real_seconds
from emulator.core.errors import Code
from emulator.dispatch import backoff, request
from emulator.dispatch.authorization import Authorizer
from emulator.dispatch.request import OutgoingRequest
from emulator.dispatch.sender import Outcome, RequestSender
from emulator.store import Store
from emulator.store.records import (
    Attempt,
    AttemptTimes,
    HttpRequest,
    Queue,
    ResponseStatus,
    Settlement,
    Task,
)

log = logging.getLogger("emulator.dispatch")


@dataclass(frozen=True, slots=True)
class Sent:
    """An attempt that has been sent (or could not be): its record and outcome."""

    record: Attempt
    outcome: Outcome
    seconds: float  # real time it took


@dataclass(frozen=True)
class Delivery:
    """What every attempt needs: where to record it, what time it is, how to send."""

    store: Store
    clock: Clock
    sender: RequestSender  # in this process, or in one of its own (ProcessSender)
    authorizer: Authorizer
    app_engine_url: str

    async def send(
        self,
        task: Task,
        queue: Queue,
        summary: AttemptTimes,
        deadline: datetime,
        began: Callable[[], None],
    ) -> Sent:
        """Build and send the attempt whose dispatch `summary` is already recorded; it
        fails with DEADLINE_EXCEEDED when the clock reaches `deadline`. `began()` is
        called once its request is on its way (or could not be built)."""
        started = real_seconds()
        record, outgoing, outcome = self._prepare(task, queue, task.dispatch_count, summary)
        if outgoing is None:
            began()
        else:
            outcome = await self._send(outgoing, deadline, began)
        return Sent(record, outcome, real_seconds() - started)

    def settle(self, task: Task, summary: AttemptTimes, sent: Sent, *, forced: bool) -> None:
        """Retry or delete the task and record the attempt's outcome (one store
        operation), and log one line."""
        outcome = sent.outcome
        at = outcome.at or self.clock.now()
        try:
            result = self._decide(task, outcome, at, summary.dispatch_time if forced else None)
        except Exception:  # an emulator bug must not strand the task: retry it later
            log.exception("settling an attempt of %s failed", task.name)
            when = backoff.next_attempt_at(at, limits.DEFAULT_MAX_BACKOFF)
            result = Settlement("retried", when, "after an internal error of the emulator")
        server_error = outcome.status is not None and outcome.status >= 500
        result = self.store.settle(
            task,
            summary,
            sent.record,
            result,
            status=ResponseStatus(int(outcome.code), _status_message(outcome)),
            http_status=outcome.status,
            # HTTP targets do not count 5xx answers as executions; App Engine does.
            counts_as_execution=not (isinstance(task.request, HttpRequest) and server_error),
            error=outcome.error,
            at=at,
            latency=sent.seconds,
            response_body=outcome.body,
        )
        name = task.name.queue_name
        if not log.isEnabledFor(logging.INFO):
            return  # (at --log-level warning, a delivery costs no formatting at all)
        next_at = result.next_attempt.isoformat() if result.next_attempt else None
        log.info(
            "project=%s location=%s queue=%s task=%s attempt=%d %s latency=%.0fms %s",
            name.project,
            name.location,
            name.queue,
            task.name.task,
            sent.record.attempt,
            outcome.describe(),
            sent.seconds * 1000,
            result.describe(),
            extra={
                "fields": {
                    "queue": str(name),
                    "task": task.name.task,
                    "attempt": sent.record.attempt,
                    "status": outcome.status,
                    "error": outcome.error,
                    "latency_ms": round(sent.seconds * 1000, 1),
                    "result": result.result,
                    "next_schedule_time": next_at,
                }
            },
        )

    def _prepare(
        self, task: Task, queue: Queue, number: int, summary: AttemptTimes
    ) -> tuple[Attempt, OutgoingRequest | None, Outcome]:
        """The attempt's record and request, or the outcome of a request that cannot be
        built (e.g. a port out of range after the queue's URI override)."""
        assert summary.dispatch_time is not None
        outgoing: OutgoingRequest | None = None
        outcome = Outcome()
        try:
            outgoing = request.build(
                task, queue, number, authorizer=self.authorizer, app_engine_url=self.app_engine_url
            )
        except ValueError as error:
            outcome = Outcome(error=f"invalid URL: {error}", error_code=Code.INVALID_ARGUMENT)
        except Exception as error:
            log.exception("cannot build the request of %s", task.name)
            outcome = Outcome(error=f"cannot build the request: {error}", error_code=Code.INTERNAL)
        name = task.name.queue_name
        record = Attempt(
            project=name.project,
            location=name.location,
            queue=name.queue,
            task=task.name.task,
            attempt=number,
            method=outgoing.method if outgoing else "",
            url=outgoing.url if outgoing else "",
            headers=outgoing.headers if outgoing else {},  # built for this attempt alone
            body=outgoing.body if outgoing else b"",
            schedule_time=summary.schedule_time or summary.dispatch_time,
            dispatch_time=summary.dispatch_time,
        )
        self.store.record_attempt(record)
        return record, outgoing, outcome

    async def _send(
        self, outgoing: OutgoingRequest, deadline: datetime, began: Callable[[], None]
    ) -> Outcome:
        """The send's outcome, or DEADLINE_EXCEEDED once the clock reaches `deadline`
        (the timer cancels this very task, so no second task waits beside it)."""
        current = asyncio.current_task()
        assert current is not None
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            current.cancel()

        timer = self.clock.call_at(deadline, expire)
        try:
            return await self.sender.send(outgoing, began)
        except asyncio.CancelledError:
            if not expired or current.uncancel() > 0:
                raise  # cancelled from outside (stop, reset), maybe besides the deadline
            seconds = outgoing.timeout.total_seconds()
            return Outcome(
                error=f"no response within {seconds:g}s",
                error_code=Code.DEADLINE_EXCEEDED,
                at=deadline,  # it failed at its deadline, however late that was noticed
            )
        except Exception as error:
            log.exception("sending %s failed unexpectedly", outgoing.url)
            return Outcome(error=f"{type(error).__name__}: {error}", error_code=Code.INTERNAL)
        finally:
            timer.cancel()

    def _decide(
        self, task: Task, outcome: Outcome, now: datetime, forced_at: datetime | None
    ) -> Settlement:
        """What an attempt's outcome does to its task (the store applies it)."""
        if not self.store.is_live(task):
            return Settlement("discarded", backoff="the task no longer exists")
        if outcome.succeeded:
            return _SUCCEEDED
        queue = self.store.find_queue(task.name.queue_name)
        config = task.retry_config or (queue.retry_config if queue else None)
        assert config is not None
        assert task.first_attempt is not None
        assert task.first_attempt.dispatch_time is not None
        if backoff.retries_exhausted(
            config,
            attempts=task.dispatch_count,
            first_attempt=task.first_attempt.dispatch_time,
            created=task.create_time,
            now=now,
        ):
            return Settlement("dropped", backoff=backoff.exhausted_reason(config))
        retry_after = backoff.parse_retry_after(outcome.retry_after, now)
        delay = backoff.choose_delay(task.dispatch_count, config, retry_after)
        # A RunTask failure counts from the RunTask time.
        return Settlement(
            "retried", backoff.next_attempt_at(forced_at or now, delay.delay), delay.why
        )


_SUCCEEDED = Settlement("succeeded")


def _status_message(outcome: Outcome) -> str:
    if outcome.status is not None:
        return f"HTTP status {outcome.status}"
    return outcome.error or ""
