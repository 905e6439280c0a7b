"""One delivery attempt: build the request, send it before its deadline, settle the task.

The deadline is a timer on the emulator's clock, so moving a virtual clock past it times
the attempt out at once. Whatever goes wrong is an outcome, never an exception that
escapes: the task is always settled (retried or deleted), and the attempt recorded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from emulator.core import limits
from emulator.core.clock import Clock, real_seconds
from emulator.core.errors import Code
from emulator.core.routes import Routed, RouteTable
from emulator.dispatch import backoff, front_door, request
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
    via: str | None = None  # the local base of its route, if a route matched


@dataclass(frozen=True)
class Delivery:
    """What every attempt needs: where to record it, what time it is, how to send."""

    store: Store
    clock: Clock
    sender: RequestSender  # in this process, or in one of its own (ProcessSender)
    authorizer: Authorizer
    app_engine_url: str
    # --route: production URLs sent to local handlers (empty: every task to its own URL).
    routes: RouteTable = field(default_factory=RouteTable)

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
        routed: Routed | None = None
        refusal: Outcome | None = None  # Cloud Run's front door's (routes)
        if outgoing is not None and self.routes and isinstance(task.request, HttpRequest):
            routed = self.routes.match(outgoing.url)
            if routed is not None:
                refusal = _front_door(routed, outgoing, self.authorizer.verify)
        if outgoing is None or refusal is not None:
            began()  # nothing to send
            outcome = refusal or outcome
        else:
            outcome = await self._send(outgoing, deadline, began, self.routes if routed else None)
        via = routed.route.base if routed else None
        return Sent(record, outcome, real_seconds() - started, via)

    async def send_again(
        self, task: Task, queue: Queue, original: Sent, at: datetime, deadline: datetime
    ) -> Sent:
        """Deliver the attempt `original` once more, dispatched `at` (a duplicate, rough
        edges): the same request, headers and all, but for a freshly minted token."""
        started = real_seconds()
        record, outgoing = request.repeat(task, queue, original.record, at, self.authorizer)
        self.store.record_attempt(record)
        outcome = await self._send(outgoing, deadline)
        return Sent(record, outcome, real_seconds() - started)

    def settle_again(self, task: Task, sent: Sent) -> None:
        """Record a duplicate delivery's outcome; its task is gone, so nothing else changes."""
        outcome, at = sent.outcome, sent.outcome.at or self.clock.now()
        error, body = outcome.error, outcome.body
        self.store.settle_duplicate(
            sent.record, http_status=outcome.status, error=error, at=at, latency=sent.seconds,
            response_body=body,
        )  # fmt: skip
        line = "task=%s attempt=%d (a duplicate delivery: rough edges) %s"
        log.info(line, task.name, sent.record.attempt, outcome.describe())

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
        if log.isEnabledFor(logging.INFO):  # (else a delivery costs no formatting at all)
            _log_settled(task, sent, result)

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
        self,
        outgoing: OutgoingRequest,
        deadline: datetime,
        began: Callable[[], None] | None = None,
        routes: RouteTable | None = None,
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
            self.store.commit()  # the target is shown nothing that is not on disk
            return await self.sender.send(outgoing, routes, began)
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


def _front_door(
    routed: Routed, outgoing: OutgoingRequest, verify: front_door.Verify
) -> Outcome | None:
    """Cloud Run's answer if its front door refuses the request (the route's `auth`),
    else None: the request goes on to the handler."""
    if not routed.route.auth:
        return None
    path = urlsplit(outgoing.url).path or "/"
    refusal = front_door.check(routed, path, outgoing.headers, verify)
    if refusal is None:
        return None
    return Outcome(
        status=refusal.status,
        error=f"refused by Cloud Run's front door (the handler was not contacted): "
        f"{refusal.reason}",
        body=refusal.body,
    )


def _log_settled(task: Task, sent: Sent, result: Settlement) -> None:
    """The one log line of a settled attempt."""
    outcome = sent.outcome
    name = task.name.queue_name
    next_at = result.next_attempt.isoformat() if result.next_attempt else None
    fields = {
        "queue": str(name),
        "task": task.name.task,
        "attempt": sent.record.attempt,
        "status": outcome.status,
        "error": outcome.error,
        "latency_ms": round(sent.seconds * 1000, 1),
        "result": result.result,
        "next_schedule_time": next_at,
    }
    described = outcome.describe()
    if sent.via is not None:  # routed (--route): where it went
        fields["via"] = sent.via
        described += f" via={sent.via}"
    log.info(
        "project=%s location=%s queue=%s task=%s attempt=%d %s latency=%.0fms %s",
        name.project,
        name.location,
        name.queue,
        task.name.task,
        sent.record.attempt,
        described,
        sent.seconds * 1000,
        result.describe(),
        extra={"fields": fields},
    )


def _status_message(outcome: Outcome) -> str:
    if outcome.status is not None:
        return f"HTTP status {outcome.status}"
    return outcome.error or ""
