"""`--data-dir`'s store (`emulator.store.datadir`): records as JSON, what is written at a
dispatch and a settle, and when changes are committed (group commit).

The file is read back through SQLite and `DataDir.load`, as a restart reads it.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from emulator.core.clock import VirtualClock, yield_to_loop
from emulator.store import codec
from emulator.store.datadir import DataDir
from emulator.store.datafile import FILE
from emulator.store.names import QueueName, TaskName
from emulator.store.records import (
    AppEngineHttpRequest,
    AppEngineRouting,
    Attempt,
    AttemptTimes,
    EnforceMode,
    HttpMethod,
    HttpRequest,
    HttpTarget,
    OAuthToken,
    OidcToken,
    Queue,
    QueueState,
    RateLimits,
    ResponseStatus,
    RetryConfig,
    Scheme,
    Settlement,
    Task,
    UriOverride,
)
from emulator.store.store import Store

T0 = datetime(2030, 1, 1, tzinfo=UTC)
QUEUE = QueueName("p", "l", "q")


def _task(task_id: str, **fields: object) -> Task:
    request = HttpRequest("http://127.0.0.1:9/x", headers={"A": "b"}, body=b"\x00\xffbody")
    return Task(TaskName(QUEUE, task_id), request, T0, T0, **fields)  # type: ignore[arg-type]


def _stored_tasks(path: Path) -> dict[str, Task]:
    """The tasks a restart would read."""
    data_dir = DataDir(str(path))
    try:
        return {str(task.name): task for task in data_dir.load(T0).tasks}
    finally:
        data_dir.close()


def _committed_names(path: Path) -> set[str]:
    """Task names another connection sees: what is committed."""
    with sqlite3.connect(path / FILE) as db:
        return {name for (name,) in db.execute("SELECT name FROM tasks")}


@pytest.mark.parametrize(
    "record",
    [
        _task(
            "full",
            dispatch_deadline=timedelta(seconds=90),
            retry_config=RetryConfig(max_attempts=3, min_backoff=timedelta(seconds=2)),
            dispatch_count=2,
            response_count=1,
            first_attempt=AttemptTimes(dispatch_time=T0),
            last_attempt=AttemptTimes(T0, T0, T0, ResponseStatus(13, "HTTP status 500")),
            seq=7,
            execution_count=1,
            previous_response=500,
        ),
        Task(
            TaskName(QUEUE, "app-engine"),
            AppEngineHttpRequest(HttpMethod.PUT, AppEngineRouting("s", "v"), "/r", {}, b""),
            T0,
            T0,
        ),
        Task(
            TaskName(QUEUE, "oidc"),
            HttpRequest("https://x/", token=OidcToken("sa@p.iam.gserviceaccount.com", "aud")),
            T0,
            T0,
        ),
        Queue(
            QUEUE,
            RateLimits(1.5, 3, burst_override=4),
            RetryConfig(),
            QueueState.PAUSED,
            T0,
            AppEngineRouting(service="s"),
            HttpTarget(
                UriOverride(Scheme.HTTP, "h", 0, "/p", None, EnforceMode.ALWAYS),
                HttpMethod.GET,
                [("X-A", "b")],
                OAuthToken("sa@p.iam.gserviceaccount.com", "scope"),
            ),
            0.25,
            timedelta(days=1),
            None,
        ),
    ],
    ids=["task", "app-engine-task", "oidc-task", "queue"],
)
def test_a_record_comes_back_as_it_was_stored(record: object) -> None:
    text = codec.dumps(record)
    assert codec.loads(text, type(record)) == record
    assert text.startswith(f'{{"$type":"{type(record).__name__}",')


def test_a_record_is_readable_json_with_plain_values() -> None:
    task = _task("t", last_attempt=AttemptTimes(dispatch_time=T0))
    text = codec.dumps(task)
    assert '"name":"projects/p/locations/l/queues/q/tasks/t"' in text
    assert '"http_method":1' in text  # an enum is its number
    assert '"body":"AP9ib2R5"' in text  # bytes in base64
    assert '"dispatch_deadline":600000000' in text  # a duration in microseconds
    assert '"dispatch_time":"2030-01-01T00:00:00+00:00"' in text


def test_dispatches_and_retries_write_what_they_change(tmp_path: Path) -> None:
    clock = VirtualClock(start=T0)
    store = Store(clock, data_dir=DataDir(str(tmp_path)))
    store.create_queue(Queue(QUEUE))
    task = store.create_task(_task("t"))
    for number in range(2):
        summary = store.record_dispatch(task, clock.now())
        attempt = Attempt("p", "l", "q", "t", number + 1, "POST", "u", {}, b"", T0, T0)
        store.settle(
            task,
            summary,
            attempt,
            Settlement("retried", clock.now() + timedelta(seconds=10)),
            status=ResponseStatus(13, "HTTP status 500"),
            http_status=500,
            counts_as_execution=False,
            error=None,
            at=clock.now(),
            latency=0.01,
        )
        clock.advance(timedelta(seconds=10))
    store.record_dispatch(task, clock.now())  # an attempt in flight at a crash
    store.commit()
    assert _stored_tasks(tmp_path) == {str(task.name): task}
    assert task.dispatch_count == 3
    assert task.response_count == 2


def test_a_success_deletes_the_task_and_keeps_its_name_reserved(tmp_path: Path) -> None:
    clock = VirtualClock(start=T0)
    store = Store(clock, data_dir=DataDir(str(tmp_path)))
    store.create_queue(Queue(QUEUE))
    task = store.create_task(_task("t"))
    summary = store.record_dispatch(task, clock.now())
    attempt = Attempt("p", "l", "q", "t", 1, "POST", "u", {}, b"", T0, T0)
    store.settle(
        task,
        summary,
        attempt,
        Settlement("succeeded"),
        status=ResponseStatus(0, "HTTP status 200"),
        http_status=200,
        counts_as_execution=True,
        error=None,
        at=clock.now(),
        latency=0.01,
    )
    store.commit()
    data_dir = DataDir(str(tmp_path))
    snapshot = data_dir.load(clock.now())
    data_dir.close()
    assert snapshot.tasks == []
    assert [(kind, name) for kind, name, _ in snapshot.tombstones] == [("task", str(task.name))]


async def test_the_changes_of_a_turn_of_the_loop_are_committed_together(tmp_path: Path) -> None:
    store = Store(VirtualClock(start=T0), data_dir=DataDir(str(tmp_path)))
    store.create_queue(Queue(QUEUE))
    store.commit()
    store.create_task(_task("a"))
    store.create_task(_task("b"))
    assert _committed_names(tmp_path) == set()  # written, not yet committed
    await yield_to_loop()  # the loop's next turn begins with the commit
    assert _committed_names(tmp_path) == {
        "projects/p/locations/l/queues/q/tasks/a",
        "projects/p/locations/l/queues/q/tasks/b",
    }
    store.create_task(_task("c"))
    store.commit()  # an answer commits at once
    assert "projects/p/locations/l/queues/q/tasks/c" in _committed_names(tmp_path)


async def test_a_change_that_fails_is_rolled_back_alone(tmp_path: Path) -> None:
    data_dir = DataDir(str(tmp_path))
    store = Store(VirtualClock(start=T0), data_dir=data_dir)
    store.create_queue(Queue(QUEUE))
    store.create_task(_task("kept"))  # waits for the same commit

    def failing_change() -> None:
        with data_dir.transaction("failing"):
            data_dir.put_task(_task("half"))
            raise RuntimeError("a bug half-way through a change")

    with pytest.raises(RuntimeError):
        failing_change()
    store.commit()
    assert _committed_names(tmp_path) == {"projects/p/locations/l/queues/q/tasks/kept"}


def test_without_a_running_loop_each_change_commits_at_once(tmp_path: Path) -> None:
    store = Store(VirtualClock(start=T0), data_dir=DataDir(str(tmp_path)))
    store.create_queue(Queue(QUEUE))
    store.create_task(_task("t"))
    assert _committed_names(tmp_path) == {"projects/p/locations/l/queues/q/tasks/t"}
