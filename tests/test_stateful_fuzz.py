"""Random sequences of valid and invalid RPCs against a model of what the emulator holds.

A Hypothesis state machine drives the real client (once over gRPC, once over REST)
through queue and task RPCs, each either valid or wrong on purpose (bad names, bad
limits, bad task fields, duplicate and tombstoned task names, missing queues and tasks),
and predicts every answer: OK or the canonical error code. After every step it lists the
whole emulator and compares it with the model: the same queues in the same states, the
same tasks (none lost, none duplicated), each task's `dispatch_count` exactly as
predicted (so it never goes down), and no task name ever coming back once it is gone.
No answer may be a 5xx (UNKNOWN, INTERNAL, ...).

Deliveries stay deterministic: every task is scheduled a day ahead (the virtual clock is
never advanced), so only RunTask dispatches, and each RunTask is followed by
`wait_for_attempts` until its attempt has settled. A task's URL is one of two receivers:
one answers 200 (the task is then deleted and its name tombstoned), the other 503 (the
task stays, rescheduled a day later, or is deleted when its queue's max_attempts is
reached).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import tasks_v2
from google.protobuf import timestamp_pb2
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from emulator import Emulator

from support import PARENT, Client, Receiver, duration, queue_path

STATEFUL = settings(
    max_examples=25,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

QUEUE_IDS = ["qa", "qb", "q-c"]  # few, so that steps collide on the same queues
BAD_QUEUE_IDS = ["under_score", "dot.ted", "x" * 101, "sp ace"]
TASK_IDS = ["t1", "t2", "t_3"]  # reused on purpose: duplicates and tombstoned names
BAD_TASK_IDS = ["dot.ted", "x" * 501, "sp ace"]
DAY = timedelta(days=1)
OK = "OK"

# Mostly valid names, so that most steps get past the name checks and reach the state.
queue_ids = st.sampled_from(QUEUE_IDS * 5 + BAD_QUEUE_IDS)
new_task_ids = st.sampled_from([None] * 4 + TASK_IDS * 2 + BAD_TASK_IDS)


def code_of(client: Client, error: exceptions.GoogleAPICallError) -> str:
    """The canonical code name of an error, over either transport; a 5xx fails."""
    assert not isinstance(error, exceptions.ServerError), f"a server error: {error!r}"
    if client.transport.kind == "rest":
        assert error.response is not None, error
        envelope = error.response.json()["error"]  # a plain-text answer fails here
        status = str(envelope["status"])
    else:
        assert error.grpc_status_code is not None, error
        status = error.grpc_status_code.name
    assert status not in {"UNKNOWN", "INTERNAL"}, error
    return status


@dataclass
class ModelTask:
    kind: str  # "ok" (the receiver answers 200) or "fail" (503)
    dispatch_count: int = 0


@dataclass
class ModelQueue:
    max_attempts: int
    state: int = tasks_v2.Queue.State.RUNNING
    tasks: dict[str, ModelTask] = field(default_factory=dict)


class EmulatorMachine(RuleBasedStateMachine):
    """One instance per example: a reset emulator and an empty model."""

    def __init__(self, emu: Emulator, client: Client, targets: dict[str, str]) -> None:
        super().__init__()
        emu.reset()
        self.emu, self.client, self.targets = emu, client, targets
        self.queues: dict[str, ModelQueue] = {}
        # Full names of the tasks that went: tombstoned for an hour (longer than a test),
        # so CreateTask with one is ALREADY_EXISTS and none may ever be listed again.
        self.gone: set[str] = set()
        self.attempts = 0

    # -- calling, and predicting --------------------------------------------------------

    def call(self, expected: str, method: str, **request: Any) -> Any:
        """Call `method`, and check the answer is `expected` (OK or a code name)."""
        failure: exceptions.GoogleAPICallError | None = None
        try:
            result = getattr(self.client, method)(request=request)
        except exceptions.GoogleAPICallError as error:
            failure, result = error, None
        got = OK if failure is None else code_of(self.client, failure)
        assert got == expected, f"{method}({request}): {got}, expected {expected}: {failure}"
        return result

    def queue_lookup(self, queue_id: str) -> str:
        """The code a queue-addressed call earns before it looks further."""
        if queue_id in BAD_QUEUE_IDS:
            return "INVALID_ARGUMENT"
        return OK if queue_id in self.queues else "NOT_FOUND"

    def task_lookup(self, queue_id: str, task_id: str) -> str:
        if queue_id in BAD_QUEUE_IDS or task_id in BAD_TASK_IDS:
            return "INVALID_ARGUMENT"
        queue = self.queues.get(queue_id)
        if queue is None or task_id not in queue.tasks:
            return "NOT_FOUND"
        return OK

    def forget(self, queue_id: str, task_ids: list[str]) -> None:
        for task_id in task_ids:
            del self.queues[queue_id].tasks[task_id]
            name = f"{queue_path(queue_id)}/tasks/{task_id}"
            self.gone.add(name)

    def task_ids(self, data: st.DataObject, queue_id: str) -> str:
        known = sorted(self.queues[queue_id].tasks) if queue_id in self.queues else []
        return data.draw(st.sampled_from(known * 8 + TASK_IDS + BAD_TASK_IDS))

    # -- queues --------------------------------------------------------------------------

    @initialize(
        max_attempts=st.lists(st.sampled_from([-1, 1, 3]), min_size=3, max_size=3),
        tasks=st.lists(
            st.tuples(
                st.sampled_from(QUEUE_IDS),
                st.sampled_from([None, *TASK_IDS]),
                st.sampled_from(["ok", "fail"]),
            ),
            max_size=6,
        ),
    )
    def first_queues(
        self, max_attempts: list[int], tasks: list[tuple[str, str | None, str]]
    ) -> None:
        """Start with every queue, and some tasks: most steps then act on something."""
        for queue_id, attempts in zip(QUEUE_IDS, max_attempts, strict=True):
            self.create_queue(queue_id, 500, 1000, attempts)
        for queue_id, task_id, kind in tasks:
            self._create_task(queue_id, task_id, kind, None)

    @rule(
        queue_id=queue_ids,
        rate=st.floats(0.5, 500),
        concurrency=st.integers(1, 5000),
        max_attempts=st.sampled_from([-1, 1, 3]),
    )
    def create_queue(self, queue_id: str, rate: float, concurrency: int, max_attempts: int) -> None:
        expected = "INVALID_ARGUMENT" if queue_id in BAD_QUEUE_IDS else OK
        if expected == OK and queue_id in self.queues:
            expected = "ALREADY_EXISTS"
        queue = {
            "name": queue_path(queue_id),
            "rate_limits": {
                "max_dispatches_per_second": rate,
                "max_concurrent_dispatches": concurrency,
            },
            "retry_config": {
                "max_attempts": max_attempts,
                "min_backoff": duration(DAY.total_seconds()),
                "max_backoff": duration(DAY.total_seconds()),
            },
        }
        if self.call(expected, "create_queue", parent=PARENT, queue=queue) is not None:
            self.queues[queue_id] = ModelQueue(max_attempts)

    @rule(
        queue_id=st.sampled_from(QUEUE_IDS),
        bad=st.sampled_from(
            [
                {"rate_limits": {"max_dispatches_per_second": -1}},
                {"rate_limits": {"max_dispatches_per_second": 501}},
                {"rate_limits": {"max_concurrent_dispatches": -1}},
                {"rate_limits": {"max_concurrent_dispatches": 5001}},
                {"retry_config": {"max_attempts": -2}},
                {"retry_config": {"min_backoff": duration(10), "max_backoff": duration(1)}},
                {"retry_config": {"max_doublings": -1}},
                {"stackdriver_logging_config": {"sampling_ratio": 1.5}},
            ]
        ),
    )
    def create_queue_with_bad_limits(self, queue_id: str, bad: dict[str, Any]) -> None:
        # Validated before the name is looked up: INVALID_ARGUMENT even if it exists.
        queue = {"name": queue_path(queue_id), **bad}
        self.call("INVALID_ARGUMENT", "create_queue", parent=PARENT, queue=queue)

    @rule(
        queue_id=queue_ids,
        op=st.sampled_from(["pause", "pause", "resume", "resume", "purge", "delete"]),
    )
    def queue_operation(self, queue_id: str, op: str) -> None:
        """Pause, resume, purge or delete a queue (delete rarely: it ends the queue's story)."""
        expected = self.queue_lookup(queue_id)
        method = {"pause": "pause_queue", "resume": "resume_queue"}.get(op, f"{op}_queue")
        answer = self.call(expected, method, name=queue_path(queue_id))
        if expected != OK:
            return
        if op in ("pause", "resume"):
            state = tasks_v2.Queue.State.PAUSED if op == "pause" else tasks_v2.Queue.State.RUNNING
            assert answer.state == state
            self.queues[queue_id].state = state
        else:  # purge and delete both remove every task and tombstone its name
            self.forget(queue_id, list(self.queues[queue_id].tasks))
            if op == "delete":
                del self.queues[queue_id]

    # -- tasks ---------------------------------------------------------------------------

    @rule(
        queue_id=queue_ids,
        task_id=new_task_ids,
        kind=st.sampled_from(["ok", "fail"]),
        bad_field=st.sampled_from(
            [None] * 4
            + [
                {"http_request": {"url": "ftp://127.0.0.1/x"}},
                {"http_request": {"url": "no-scheme"}},
                {"http_request": {"http_method": "GET", "body": b"x"}},
                {"dispatch_deadline": duration(5)},
                {"dispatch_deadline": duration(3 * 3600)},
                {"schedule_time_ahead": timedelta(days=40)},
                {"no_message_type": True},
            ]
        ),
    )
    def create_task(
        self, queue_id: str, task_id: str | None, kind: str, bad_field: dict[str, Any] | None
    ) -> None:
        self._create_task(queue_id, task_id, kind, bad_field)

    @rule(
        queue_id=st.sampled_from(QUEUE_IDS),
        task_id=st.sampled_from([None, *TASK_IDS]),
        kind=st.sampled_from(["ok", "fail"]),
    )
    def create_valid_task(self, queue_id: str, task_id: str | None, kind: str) -> None:
        self._create_task(queue_id, task_id, kind, None)

    def _create_task(
        self, queue_id: str, task_id: str | None, kind: str, bad_field: dict[str, Any] | None
    ) -> None:
        bad = dict(bad_field or {})
        ahead = bad.pop("schedule_time_ahead", DAY)
        when = timestamp_pb2.Timestamp()
        when.FromDatetime(self.emu.now + ahead)
        request: dict[str, Any] = {"url": f"{self.targets[kind]}/{kind}"}
        request.update(bad.pop("http_request", {}))
        task: dict[str, Any] = {"schedule_time": when, **bad}
        if not task.pop("no_message_type", False):
            task["http_request"] = request
        if task_id is not None:
            task["name"] = f"{queue_path(queue_id)}/tasks/{task_id}"
        # The order the service checks in: names, the queue, the fields, then the name's use.
        if queue_id in BAD_QUEUE_IDS or task_id in BAD_TASK_IDS:
            expected = "INVALID_ARGUMENT"
        elif queue_id not in self.queues:
            expected = "NOT_FOUND"
        elif bad_field is not None:
            expected = "INVALID_ARGUMENT"
        elif task_id is not None and (
            task_id in self.queues[queue_id].tasks or task["name"] in self.gone
        ):
            expected = "ALREADY_EXISTS"
        else:
            expected = OK
        created = self.call(expected, "create_task", parent=queue_path(queue_id), task=task)
        if created is None:
            return
        prefix = f"{queue_path(queue_id)}/tasks/"
        assert created.name.startswith(prefix), created.name
        new_id = created.name.removeprefix(prefix)
        if task_id is not None:
            assert new_id == task_id
        assert created.name not in self.gone, f"{created.name} came back"
        assert new_id not in self.queues[queue_id].tasks, f"{created.name} is a duplicate"
        assert created.dispatch_count == 0
        self.queues[queue_id].tasks[new_id] = ModelTask(kind)

    @rule(queue_id=queue_ids, data=st.data())
    def delete_task(self, queue_id: str, data: st.DataObject) -> None:
        task_id = self.task_ids(data, queue_id)
        expected = self.task_lookup(queue_id, task_id)
        self.call(expected, "delete_task", name=f"{queue_path(queue_id)}/tasks/{task_id}")
        if expected == OK:
            self.forget(queue_id, [task_id])

    @rule(queue_id=queue_ids, data=st.data())
    def get_task(self, queue_id: str, data: st.DataObject) -> None:
        task_id = self.task_ids(data, queue_id)
        name = f"{queue_path(queue_id)}/tasks/{task_id}"
        task = self.call(self.task_lookup(queue_id, task_id), "get_task", name=name)
        if task is not None:
            assert task.name == name
            assert task.dispatch_count == self.queues[queue_id].tasks[task_id].dispatch_count

    @rule(queue_id=queue_ids, page_size=st.integers(-1, 3))
    def list_tasks(self, queue_id: str, page_size: int) -> None:
        expected = self.queue_lookup(queue_id)
        if expected == OK and page_size < 0:
            expected = "INVALID_ARGUMENT"
        pager = self.call(expected, "list_tasks", parent=queue_path(queue_id), page_size=page_size)
        if pager is not None:
            assert len(list(pager)) == len(self.queues[queue_id].tasks)

    @rule(queue_id=queue_ids, data=st.data())
    def run_task(self, queue_id: str, data: st.DataObject) -> None:
        task_id = self.task_ids(data, queue_id)
        name = f"{queue_path(queue_id)}/tasks/{task_id}"
        task = self.call(self.task_lookup(queue_id, task_id), "run_task", name=name)
        if task is None:
            return
        queue = self.queues[queue_id]
        model = queue.tasks[task_id]
        model.dispatch_count += 1
        assert task.dispatch_count == model.dispatch_count
        self.attempts += 1
        settled = self.emu.wait_for_attempts(self.attempts)
        assert len(settled) == self.attempts  # one attempt per RunTask, no more
        exhausted = queue.max_attempts != -1 and model.dispatch_count >= queue.max_attempts
        if model.kind == "ok" or exhausted:
            self.forget(queue_id, [task_id])

    # -- after every step ----------------------------------------------------------------

    @invariant()
    def emulator_matches_model(self) -> None:
        listed = {q.name: q for q in self.client.list_queues(parent=PARENT)}
        assert sorted(listed) == sorted(queue_path(q) for q in self.queues)
        for queue_id, model in self.queues.items():
            assert listed[queue_path(queue_id)].state == model.state, queue_id
            request = {"parent": queue_path(queue_id), "page_size": 2}  # pages, too
            tasks = list(self.client.list_tasks(request=request))
            names = [t.name for t in tasks]
            assert len(names) == len(set(names)), f"duplicated tasks: {names}"
            prefix = f"{queue_path(queue_id)}/tasks/"
            assert not self.gone & set(names), "a task that went is back"
            counts = {t.name.removeprefix(prefix): t.dispatch_count for t in tasks}
            # The same tasks, none lost or added; dispatch counts as predicted (never lower).
            assert counts == {i: t.dispatch_count for i, t in model.tasks.items()}, queue_id


@pytest.fixture
def targets(receiver: Receiver) -> Iterator[dict[str, str]]:
    """Where the tasks point: `ok` answers 200, `fail` answers 503."""
    failing = Receiver()
    failing.status = 503
    yield {"ok": receiver.url, "fail": failing.url}
    failing.close()


def test_random_rpc_sequences_match_the_model(
    emu: Emulator, client: Client, targets: dict[str, str]
) -> None:
    # `client` runs this once over gRPC and once over REST.
    run_state_machine_as_test(lambda: EmulatorMachine(emu, client, targets), settings=STATEFUL)
