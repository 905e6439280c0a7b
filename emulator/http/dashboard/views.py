"""What the dashboard shows, read from the store and the delivery view: plain data for the
templates. Nothing here changes anything (the pages act through the API) or writes HTML.
"""

from __future__ import annotations

import heapq
import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from emulator.dispatch import backoff, request
from emulator.dispatch.view import DeliveryView
from emulator.store import Store
from emulator.store.names import QueueName, TaskName
from emulator.store.records import (
    RESPONSE_BODY_KEPT,
    AppEngineHttpRequest,
    Attempt,
    Queue,
    RetryConfig,
    Task,
)
from emulator.store.stats import Outcomes

BODY_PREVIEW = 64 * 1024  # bytes of a body shown
BINARY_PREVIEW = 1024  # bytes of a binary body shown, in hex
PAGE_SIZES = (25, 50, 100, 500)
FILTERS = {
    "all": "all tasks",
    "due": "due, waiting to be sent",
    "scheduled": "scheduled later, never tried",
    "retrying": "tried before, waiting to retry",
    "in-flight": "in flight",
}
ORDERS = {"created": "creation order", "next": "next attempt first"}


def queue_path(name: QueueName) -> str:
    """The dashboard's page of a queue."""
    return f"/ui/queues/{name.project}/{name.location}/{name.queue}"


def task_path(name: TaskName) -> str:
    return f"{queue_path(name.queue_name)}/tasks/{name.task}"


def retry_summary(config: RetryConfig) -> str:
    attempts = "unlimited" if config.max_attempts == -1 else str(config.max_attempts)
    duration = config.max_retry_duration
    return (
        f"max_attempts {attempts}, backoff {backoff.seconds(config.min_backoff)} to "
        f"{backoff.seconds(config.max_backoff)}, max_doublings {config.max_doublings}, "
        f"max_retry_duration {backoff.seconds(duration) if duration else 'unlimited'}"
    )


# -- queues --------------------------------------------------------------------------------


@dataclass
class QueueRow:
    queue: Queue
    path: str
    tasks: int
    in_flight: int
    chart: list[Outcomes]  # ten minutes, ten seconds a bar
    created: int
    succeeded: int
    retried: int
    dropped: int

    @property
    def waiting(self) -> int:
        return self.tasks - self.in_flight

    @property
    def retry(self) -> str:
        return retry_summary(self.queue.retry_config)

    @property
    def retry_short(self) -> str:
        """The retries in a few words (the queue's page and `retry`'s title say the rest)."""
        config = self.queue.retry_config
        attempts = "unlimited" if config.max_attempts == -1 else str(config.max_attempts)
        plural = "" if config.max_attempts == 1 else "s"
        return (
            f"{attempts} attempt{plural}, {backoff.seconds(config.min_backoff)}"
            f"–{backoff.seconds(config.max_backoff)}"
        )


def _row(store: Store, name: QueueName, in_flight: int, now: datetime) -> QueueRow:
    stats = store.stats(name)
    return QueueRow(
        queue=store.get_queue(name),
        path=queue_path(name),
        tasks=store.task_count(name),
        in_flight=in_flight,
        chart=stats.timeline(now),
        created=stats.created,
        succeeded=stats.succeeded,
        retried=stats.retried,
        dropped=stats.dropped,
    )


def queue_rows(store: Store, delivery: DeliveryView, now: datetime) -> list[QueueRow]:
    """Every queue, by name."""
    in_flight = delivery.in_flight_by_queue()
    names = sorted(store.queue_names(), key=str)
    return [_row(store, name, in_flight[name], now) for name in names]


# -- one queue -----------------------------------------------------------------------------


def task_state(task: Task, in_flight: bool, now: datetime) -> str:
    """One of FILTERS' keys (but "all")."""
    if in_flight:
        return "in-flight"
    if task.schedule_time <= now:
        return "due"
    return "retrying" if task.dispatch_count else "scheduled"


@dataclass
class TaskRow:
    task: Task
    path: str
    state: str

    @property
    def last_status(self) -> str:
        attempt = self.task.last_attempt
        if attempt is None or attempt.response_status is None:
            return ""
        return attempt.response_status.message or "OK"


@dataclass
class QueuePage:
    row: QueueRow
    tasks: list[TaskRow]
    matching: int  # tasks that pass the filter and the search
    page: int
    pages: int
    size: int
    filter: str
    order: str
    search: str
    target: str  # the queue's http_target in words, "" without one
    enforced_rate: float | None = None  # throttled by 429/503 answers (rough edges)


def queue_page(
    store: Store,
    delivery: DeliveryView,
    name: QueueName,
    now: datetime,
    *,
    filter_: str = "all",
    order: str = "created",
    search: str = "",
    page: int = 1,
    size: int = 50,
) -> QueuePage:
    """One page of a queue's tasks, filtered by state and by a part of the task id, in
    creation order or next attempt first: at most one pass over the queue's tasks."""
    row = _row(store, name, delivery.in_flight_by_queue()[name], now)
    tasks: Iterable[Task] = store.list_tasks(name)
    if filter_ == "all" and not search:
        matching = row.tasks
    else:
        tasks = [
            t
            for t in tasks
            if search in t.name.task
            and (filter_ == "all" or task_state(t, delivery.is_in_flight(t), now) == filter_)
        ]
        matching = len(tasks)
    pages = max(1, -(-matching // size))
    page = min(page, pages)
    offset = (page - 1) * size
    if order == "next":
        first = heapq.nsmallest(offset + size, tasks, key=lambda t: (t.schedule_time, t.seq))
        chosen = first[offset:]
    else:
        chosen = list(itertools.islice(tasks, offset, offset + size))
    rows = [
        TaskRow(t, task_path(t.name), task_state(t, delivery.is_in_flight(t), now)) for t in chosen
    ]
    return QueuePage(
        row=row,
        tasks=rows,
        matching=matching,
        page=page,
        pages=pages,
        size=size,
        filter=filter_,
        order=order,
        search=search,
        target=_target_words(row.queue),
        enforced_rate=delivery.enforced_rate(name),
    )


def _target_words(queue: Queue) -> str:
    target = queue.http_target
    if target is None:
        return ""
    parts = []
    override = target.uri_override
    if override is not None:
        scheme = override.scheme.name if override.scheme is not None else None
        named = (
            ("scheme", scheme),
            ("host", override.host),
            ("port", override.port),
            ("path", override.path),
            ("query", override.query),
        )
        parts.append("URI " + ", ".join(f"{k} {v}" for k, v in named if v is not None))
    if target.header_overrides:
        parts.append("headers " + ", ".join(key for key, _ in target.header_overrides))
    if target.token is not None:
        parts.append(f"token for {target.token.service_account_email}")
    return "; ".join(parts)


# -- one task ------------------------------------------------------------------------------


class PreviewTokens:
    """Tokens as the task page shows them: described, never minted (each attempt mints
    its own)."""

    @staticmethod
    def oidc(email: str, audience: str) -> str:
        return f"<an OIDC ID token for {email}, audience {audience}, signed at each attempt>"

    @staticmethod
    def oauth(email: str, scope: str) -> str:
        return f"<an OAuth access token for {email}, scope {scope}, minted at each attempt>"


@dataclass
class BodyPreview:
    kind: str  # "empty", "json" (pretty-printed), "text" or "binary" (hex)
    text: str
    size: int
    hidden: int  # bytes not shown


def body_preview(body: bytes) -> BodyPreview:
    if not body:
        return BodyPreview("empty", "", 0, 0)
    shown = body[:BODY_PREVIEW]
    try:
        text = shown.decode()
    except UnicodeDecodeError:
        shown = body[:BINARY_PREVIEW]
        lines = [shown[i : i + 16].hex(" ") for i in range(0, len(shown), 16)]
        return BodyPreview("binary", "\n".join(lines), len(body), len(body) - len(shown))
    if len(body) <= BODY_PREVIEW:
        try:
            pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except (ValueError, RecursionError):
            pass
        else:
            return BodyPreview("json", pretty, len(body), 0)
    return BodyPreview("text", text, len(body), len(body) - len(shown))


@dataclass
class Answer:
    """The first bytes of a target's answer, as the timeline shows them: UTF-8 text, an
    invalid byte as U+FFFD (the template escapes the text)."""

    text: str
    size: int  # bytes kept
    cut: bool  # as many as an attempt keeps: the answer may have been longer


def answer(body: bytes) -> Answer:
    return Answer(body.decode("utf-8", "replace"), len(body), len(body) >= RESPONSE_BODY_KEPT)


@dataclass
class TaskDetail:
    name: TaskName
    queue_path: str
    attempts: list[Attempt]  # the kept ones, oldest first
    task: Task | None = None  # None: gone (succeeded, deleted, or out of retries)
    state: str = "gone"
    target_kind: str = ""
    request: request.OutgoingRequest | None = None  # the next attempt's, as it will be sent
    body: BodyPreview | None = None
    retry: str = ""
    limits: str = ""


def task_detail(
    store: Store,
    delivery: DeliveryView,
    name: TaskName,
    attempts: list[Attempt],
    now: datetime,
    *,
    app_engine_url: str,
) -> TaskDetail:
    """A task and its kept attempts; of a task that is gone, its attempts only."""
    queue = store.get_queue(name.queue_name)
    detail = TaskDetail(name, queue_path(name.queue_name), attempts)
    task = store.find_task(name)
    if task is None:
        return detail
    config = task.retry_config or queue.retry_config
    outgoing = request.build(
        task,
        queue,
        task.dispatch_count + 1,
        authorizer=PreviewTokens(),
        app_engine_url=app_engine_url,
    )
    first = task.first_attempt.dispatch_time if task.first_attempt else None
    detail.task = task
    detail.state = task_state(task, delivery.is_in_flight(task), now)
    detail.target_kind = "App Engine" if isinstance(task.request, AppEngineHttpRequest) else "HTTP"
    detail.request = outgoing
    detail.body = body_preview(outgoing.body)
    detail.retry = retry_summary(config) + (" (the task's own)" if task.retry_config else "")
    detail.limits = backoff.retry_limits(
        config, attempts=task.dispatch_count, first_attempt=first, created=task.create_time
    )
    return detail
