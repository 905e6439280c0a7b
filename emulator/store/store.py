"""The single source of truth for every API surface and the dispatcher.

All methods are synchronous and never await: on one event loop they cannot interleave,
so no locks are needed. No other module writes the store's collections; every state
change is announced to the listeners (the dispatcher) as a `Change`.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from emulator.core import errors, limits
from emulator.core.clock import Clock
from emulator.store import bookkeeping
from emulator.store.datadir import DataDir, Disk, InMemory, Snapshot
from emulator.store.kept import AttemptHistory, CmekKeys, Operations
from emulator.store.names import LocationName, QueueName, TaskName
from emulator.store.records import (
    Attempt,
    AttemptTimes,
    Queue,
    QueueState,
    ResponseStatus,
    Settlement,
    Task,
)
from emulator.store.stats import QueueStats
from emulator.store.tombstones import Tombstones


@dataclass(frozen=True, slots=True)
class Change:
    """What changed in the store, told to its listeners right after the change."""

    queue: QueueName
    task: Task | None = None  # a task due at its (new) schedule_time: created, rescheduled
    run_now: bool = False  # RunTask: `task` is to be dispatched at once
    removed: bool = False  # a task of the queue is gone (the queue itself is as it was)


Listener = Callable[[Change], None]
_IDS = random.Random()  # seeded from the system's randomness
_DISCARDED = Settlement("discarded", backoff="the task no longer exists")


@dataclass
class _QueueSlot:
    queue: Queue
    tasks: dict[str, Task] = field(default_factory=dict)
    policy: bytes = b""  # a serialized google.iam.v1.Policy; opaque to the emulator
    stats: QueueStats = field(default_factory=QueueStats)


class Store:
    def __init__(
        self,
        clock: Clock,
        *,
        task_tombstone_ttl: timedelta = limits.DEFAULT_TASK_TOMBSTONE_TTL,
        queue_tombstone_ttl: timedelta = limits.DEFAULT_QUEUE_TOMBSTONE_TTL,
        attempt_history: int = limits.DEFAULT_ATTEMPT_HISTORY,
        data_dir: DataDir | None = None,
    ) -> None:
        self.clock = clock
        self._disk: Disk = data_dir or InMemory()
        self.task_tombstone_ttl = task_tombstone_ttl
        self.queue_tombstone_ttl = queue_tombstone_ttl
        self._listeners: list[Listener] = []
        self._watchers: list[Callable[[], None]] = []
        self._seq = itertools.count(1)
        self._queues: dict[QueueName, _QueueSlot] = {}
        self._task_tombstones = Tombstones()
        self._queue_tombstones = Tombstones()
        self.attempts = AttemptHistory(attempt_history)
        self.operations = Operations(self._disk)
        self.cmek_keys = CmekKeys(self._disk)
        if data_dir is not None:
            self._restore(data_dir.load(clock.now()))

    # -- notifications ---------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def watch(self, watcher: Callable[[], None]) -> None:
        """Call `watcher` after every change, attempts included (the dashboard's live view)."""
        self._watchers.append(watcher)

    def _changed(
        self,
        name: QueueName,
        task: Task | None = None,
        run_now: bool = False,
        *,
        removed: bool = False,
    ) -> None:
        change = Change(name, task, run_now, removed)
        for listener in self._listeners:
            listener(change)
        self._touched()

    def _touched(self) -> None:
        for watcher in self._watchers:
            watcher()

    def reset(self) -> None:
        """Forget everything: queues, tasks, tombstones, CMEK configs, operations, attempts."""
        names = list(self._queues)
        self._queues.clear()
        self._task_tombstones.clear()
        self._queue_tombstones.clear()
        self.cmek_keys.clear()
        self.operations.clear()
        self.attempts.clear()
        self._disk.reset()
        self._seq = itertools.count(1)  # creation places repeat run after run (rough edges)
        for name in names:
            self._changed(name)

    # -- queues ----------------------------------------------------------------------

    def _slot(self, name: QueueName, missing: str = errors.QUEUE_NOT_FOUND) -> _QueueSlot:
        slot = self._queues.get(name)
        if slot is None:
            raise errors.NotFound(missing)
        return slot

    def _check_not_tombstoned(self, name: QueueName) -> None:
        if self._queue_tombstones.holds(name.parent, name.queue, self.clock.now()):
            raise errors.FailedPrecondition(errors.QUEUE_TOMBSTONED)

    def create_queue(self, queue: Queue) -> Queue:
        if queue.name in self._queues:
            raise errors.AlreadyExists(errors.QUEUE_EXISTS)
        self._check_not_tombstoned(queue.name)
        self._queues[queue.name] = _QueueSlot(queue)
        self._disk.put_queue(queue, b"")
        self._changed(queue.name)
        return queue

    def put_queue(self, queue: Queue) -> Queue:
        """Replace a queue's configuration, creating the queue if it does not exist.

        State, purge time and the v2beta3 fields survive the replacement (they change
        only through their own methods).
        """
        slot = self._queues.get(queue.name)
        if slot is None:
            self._check_not_tombstoned(queue.name)
            queue.state, queue.purge_time = QueueState.RUNNING, None
            self._queues[queue.name] = _QueueSlot(queue)
        else:
            old = slot.queue
            queue.state, queue.purge_time = old.state, old.purge_time
            queue.task_ttl, queue.tombstone_ttl = old.task_ttl, old.tombstone_ttl
            slot.queue = queue
        self._save_queue(queue.name)
        self._changed(queue.name)
        return queue

    def _save_queue(self, name: QueueName) -> None:
        slot = self._queues[name]
        self._disk.put_queue(slot.queue, slot.policy)

    def get_queue(self, name: QueueName) -> Queue:
        return self._slot(name).queue

    def stats(self, name: QueueName) -> QueueStats:
        """What the queue has done (for reading: the store alone writes it)."""
        return self._slot(name).stats

    def find_queue(self, name: QueueName) -> Queue | None:
        slot = self._queues.get(name)
        return slot.queue if slot else None

    def list_queues(self, parent: LocationName) -> list[Queue]:
        """The queues under `parent`, in lexicographical order of name."""
        names = sorted((n for n in self._queues if n.parent == parent), key=str)
        return [self._queues[name].queue for name in names]

    def queue_names(self) -> list[QueueName]:
        return list(self._queues)

    def locations(self, project: str) -> set[str]:
        return {n.location for n in self._queues if n.project == project}

    def delete_queue(self, name: QueueName) -> None:
        slot = self._slot(name, missing=errors.ENTITY_NOT_FOUND)
        now = self.clock.now()
        self._tombstone_tasks(slot.tasks.values(), now)
        del self._queues[name]
        self._disk.delete_queue(name)
        if self.queue_tombstone_ttl > timedelta(0):
            until = now + self.queue_tombstone_ttl
            self._queue_tombstones.add(name.parent, name.queue, until, now)
            self._disk.put_tombstones("queue", [(str(name), until)], now)
        self._changed(name)

    def purge_queue(self, name: QueueName) -> Queue:
        """Delete every task created before now; the purge time is truncated to µs."""
        slot = self._slot(name)
        cutoff = next(self._seq)
        now = self.clock.now()
        purged = [task for task in slot.tasks.values() if task.seq < cutoff]
        for task in purged:
            del slot.tasks[task.name.task]
        self._disk.delete_tasks([task.name for task in purged])
        self._tombstone_tasks(purged, now)
        slot.queue.purge_time = now
        self._save_queue(name)
        self._changed(name)
        return slot.queue

    def set_queue_state(self, name: QueueName, state: QueueState) -> Queue:
        slot = self._slot(name)
        slot.queue.state = state
        self._save_queue(name)
        self._changed(name)
        return slot.queue

    def set_beta_fields(
        self, name: QueueName, *, task_ttl: timedelta | None, tombstone_ttl: timedelta | None
    ) -> None:
        """The v2beta3-only fields of a queue (None: the default)."""
        queue = self._slot(name).queue
        queue.task_ttl, queue.tombstone_ttl = task_ttl, tombstone_ttl
        self._save_queue(name)

    def get_policy(self, name: QueueName) -> bytes:
        return self._slot(name).policy

    def set_policy(self, name: QueueName, policy: bytes) -> None:
        self._slot(name).policy = policy
        self._save_queue(name)

    # -- tasks -----------------------------------------------------------------------

    def new_task_id(self, queue: QueueName) -> str:
        """A random unsigned 64-bit integer in decimal, unique in the queue (ids need no
        secrecy: a seeded generator, not a system call per id)."""
        tasks = self._slot(queue).tasks
        while True:
            task_id = str(_IDS.getrandbits(64))
            if task_id not in tasks:
                return task_id

    def task_tombstone_ttl_for(self, queue: QueueName) -> timedelta:
        """The queue's own tombstone_ttl (v2beta3) or the emulator's setting."""
        slot = self._queues.get(queue)
        own = slot.queue.tombstone_ttl if slot else None
        return own if own is not None else self.task_tombstone_ttl

    def _tombstone_tasks(self, tasks: Iterable[Task], now: datetime) -> None:
        entries = []
        for task in tasks:
            until = now + self.task_tombstone_ttl_for(task.name.queue_name)
            self._task_tombstones.add(task.name.queue_name, task.name.task, until, now)
            entries.append((str(task.name), until))
        self._disk.put_tombstones("task", entries, now)

    def create_task(self, task: Task, now: datetime | None = None) -> Task:
        """Store a new task (`now`: the time the caller read, if it did)."""
        slot = self._slot(task.name.queue_name)
        name = task.name
        if name.task in slot.tasks or self._task_tombstones.holds(
            name.queue_name, name.task, now or self.clock.now()
        ):
            raise errors.AlreadyExists(errors.ENTITY_EXISTS)
        task.seq = next(self._seq)
        slot.tasks[task.name.task] = task
        slot.stats.created += 1
        self._disk.put_task(task)
        self._changed(task.name.queue_name, task)
        return task

    def get_task(self, name: TaskName) -> Task:
        slot = self._slot(name.queue_name)
        task = slot.tasks.get(name.task)
        if task is None:
            if self._task_tombstones.holds(name.queue_name, name.task, self.clock.now()):
                raise errors.NotFound(errors.TASK_TOMBSTONED)
            raise errors.NotFound(errors.ENTITY_NOT_FOUND)
        return task

    def find_task(self, name: TaskName) -> Task | None:
        """The live task of that name, or None (whatever the reason it is not there)."""
        slot = self._queues.get(name.queue_name)
        return slot.tasks.get(name.task) if slot else None

    def task_count(self, queue: QueueName) -> int:
        slot = self._queues.get(queue)
        return len(slot.tasks) if slot else 0

    def list_tasks(self, queue: QueueName) -> list[Task]:
        """The queue's tasks in creation order (dicts keep insertion order)."""
        return list(self._slot(queue).tasks.values())

    def delete_task(self, name: TaskName) -> Task:
        """Remove a task and reserve its name (DeleteTask, success, retries exhausted)."""
        task = self.get_task(name)
        del self._queues[name.queue_name].tasks[name.task]
        self._disk.delete_tasks([name])
        self._tombstone_tasks([task], self.clock.now())
        self._changed(name.queue_name, removed=True)
        return task

    def run_task(self, name: TaskName) -> Task:
        """RunTask: the task is dispatched at once by whoever listens (the dispatcher),
        which records the dispatch before this returns."""
        task = self.get_task(name)
        dispatched = task.dispatch_count
        self._changed(name.queue_name, task, run_now=True)
        if task.dispatch_count == dispatched:
            raise errors.FailedPrecondition("RunTask is not available: nothing dispatches tasks.")
        return task

    # -- delivery: an attempt starts, an attempt settles ----------------------------------
    # The dispatcher holds task records across awaits; these methods take the record and
    # change it only while it is still the live task of its name (not deleted, purged, or
    # replaced), so a finished attempt never resurrects a task. The dispatcher reads task
    # records; only these methods write them.

    def is_live(self, task: Task) -> bool:
        slot = self._queues.get(task.name.queue_name)
        return slot is not None and slot.tasks.get(task.name.task) is task

    def record_dispatch(self, task: Task, now: datetime) -> AttemptTimes:
        """Count an attempt that starts now (the task's counters, kept on disk too, in one
        transaction: an attempt in flight at a crash is retried after the restart)."""
        summary = bookkeeping.record_dispatch(task, now)
        slot = self._queues.get(task.name.queue_name)
        if slot is not None:
            slot.stats.dispatched += 1
            slot.stats.lateness.observe(max((now - task.schedule_time).total_seconds(), 0.0))
            if slot.tasks.get(task.name.task) is task:
                with self._disk.transaction("dispatch"):
                    self._disk.put_task(task)
        return summary

    def record_attempt(self, attempt: Attempt) -> None:
        """An attempt that starts: kept (the newest `attempt_history`) for inspection."""
        self.attempts.record(attempt)

    def settle(
        self,
        task: Task,
        summary: AttemptTimes,
        attempt: Attempt,
        result: Settlement,
        *,
        status: ResponseStatus,
        http_status: int | None,
        counts_as_execution: bool,
        error: str | None,
        at: datetime,
        latency: float,
        response_body: bytes = b"",
    ) -> Settlement:
        """Settle an attempt in one step: record its outcome on the task (`summary`, the
        attempt's `last_attempt`, gets `status`), then reschedule the task at
        `result.next_attempt`, or delete it and reserve its name (succeeded, dropped);
        count it in the queue's stats and complete `attempt` in the history. With a data
        directory the task's changes are one transaction: a crash keeps all or none.
        Returns what became of the task: `result`, or "discarded" if it no longer exists.
        """
        name = task.name.queue_name
        slot = self._queues.get(name)
        live = slot is not None and slot.tasks.get(task.name.task) is task
        if not live:
            result = _DISCARDED
        self.attempts.settle(
            attempt, status=http_status, error=error, at=at, response_body=response_body
        )
        attempt.latency = latency
        attempt.result, attempt.next_attempt = result.result, result.next_attempt
        attempt.backoff = result.backoff
        if slot is None:
            self._touched()
            return result
        stats = slot.stats
        stats.attempt_settled(
            at, succeeded=http_status is not None and 200 <= http_status < 300, latency=latency
        )
        if not live:
            self._touched()
            return result
        bookkeeping.record_result(
            task,
            summary,
            status=status,
            http_status=http_status,
            counts_as_execution=counts_as_execution,
            now=at,
        )
        when = result.next_attempt
        with self._disk.transaction("settle"):
            if when is not None:
                task.schedule_time = when
                self._disk.put_task(task)
            else:
                del slot.tasks[task.name.task]
                self._disk.delete_tasks([task.name])
                self._tombstone_tasks((task,), self.clock.now())
        if when is not None:
            stats.retried += 1
            self._changed(name, task)
        else:
            if result.result == "succeeded":
                stats.succeeded += 1
            else:
                stats.dropped += 1
            self._changed(name, removed=True)
        return result

    def settle_duplicate(
        self,
        attempt: Attempt,
        *,
        http_status: int | None,
        error: str | None,
        at: datetime,
        latency: float,
        response_body: bytes = b"",
    ) -> None:
        """Complete a duplicate delivery (rough edges) in the history: its task had
        succeeded already, so nothing else changes."""
        self.attempts.settle(
            attempt, status=http_status, error=error, at=at, response_body=response_body
        )
        attempt.latency, attempt.result = latency, "duplicate"
        self._touched()

    # -- the data directory ------------------------------------------------------------

    def save_clock_offset(self, offset: timedelta) -> None:
        """Keep how far a virtual clock runs ahead, so it survives a restart."""
        self._disk.put_clock_offset(offset)

    def _restore(self, snapshot: Snapshot) -> None:
        for queue, policy in snapshot.queues:
            self._queues[queue.name] = _QueueSlot(queue, policy=policy)
        for task in snapshot.tasks:  # in creation order
            slot = self._queues.get(task.name.queue_name)
            if slot is not None:
                slot.tasks[task.name.task] = task
        last = max((task.seq for task in snapshot.tasks), default=0)
        self._seq = itertools.count(last + 1)
        now = self.clock.now()
        for kind, name, until in snapshot.tombstones:
            if kind == "task":
                task_name = TaskName.parse(name)
                self._task_tombstones.add(task_name.queue_name, task_name.task, until, now)
            else:
                queue_name = QueueName.parse(name)
                self._queue_tombstones.add(queue_name.parent, queue_name.queue, until, now)
        for location, key in snapshot.cmek.items():
            self.cmek_keys.restore(location, key)
        for name, data, request_id in snapshot.operations:
            self.operations.restore(name, data, request_id)
