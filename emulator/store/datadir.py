"""`--data-dir`: the store's state in SQLite, each change written as it is made and
committed before anything shows it.

A change is written when the store makes it. The commit comes before any answer (the ports
call `Store.commit()` before answering, and an attempt before it is sent) or, for what
deliveries change, at the start of the event loop's next turn: one commit for every change
made meanwhile (group commit). So a killed process (`kill -9`, a crashed container) loses
nothing that was acknowledged or shown. The file, its format check and its settings are
`emulator.store.datafile`'s. The records are JSON (`emulator.store.codec`), so the file is
readable with the `sqlite3` shell; a task's dispatch or retry rewrites only the fields it
changed (SQLite's `json_set`). The emulator never resets the file silently.

A change that takes several writes (settling an attempt: the task's result, then its next
schedule, or its deletion and the tombstone that keeps its name reserved) is one
transaction (`DataDir.transaction`): a process killed at any point keeps all of it or none.
A commit holds whole changes only (the store's operations never await), and a change that
fails half-way is rolled back alone (to a savepoint) when others wait in the same commit.

Fault injection, for the crash tests only: when CLOUD_TASKS_EMULATOR_CRASH_AT (read once,
when the data directory opens) names a step, `TRANSACTION/WRITE` (e.g. `settle/delete_tasks`,
after that write and before the commit) or `TRANSACTION/commit` (just after the commit
that holds such a change), the process kills itself with SIGKILL when it reaches that step.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from emulator.core.errors import Internal, StartupError
from emulator.store import codec, datafile
from emulator.store.names import LocationName, QueueName, TaskName
from emulator.store.records import Queue, Task

CRASH_AT = "CLOUD_TASKS_EMULATOR_CRASH_AT"  # the crash tests' hook (see above)

log = logging.getLogger("emulator.store")


@dataclass
class Snapshot:
    """Everything a data directory holds, to fill a new store."""

    queues: list[tuple[Queue, bytes]] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)  # in creation order
    tombstones: list[tuple[str, str, datetime]] = field(default_factory=list)  # kind, name
    cmek: dict[LocationName, str] = field(default_factory=dict)
    operations: list[tuple[str, bytes, str]] = field(default_factory=list)  # oldest first


class DataDir:
    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._depth = 0  # open transactions (nested ones join the outermost)
        self._transaction_name = ""
        self._transaction = _Transaction(self)
        self._crash_at = os.environ.get(CRASH_AT, "")
        self._due: asyncio.Handle | None = None  # the commit at the loop's next turn
        self._batch: set[str] = set()  # the next commit's transaction names (crash hook)
        self._expired: datetime | None = None  # tombstones to drop, once a commit
        self._db = datafile.open_database(self.path)
        self._checkpoints = datafile.Checkpointer(self.path / datafile.FILE)
        self._json_set = datafile.has_json_set(self._db)
        self._updates: dict[tuple[str, ...], str] = {}  # update_task's SQL, by fields
        self._changes = 0  # the connection's total_changes at the last checkpoint

    # -- reading ---------------------------------------------------------------------

    def load(self, now: datetime) -> Snapshot:
        """The stored state; tombstones that expired meanwhile are left out."""
        try:
            return _load(self._db, now)
        except (sqlite3.DatabaseError, ValueError, KeyError, TypeError) as error:
            raise StartupError(
                f"the data directory {self.path} cannot be read ({error}); it may be "
                "corrupted. Use another --data-dir, or delete this one to start empty."
            ) from None

    def clock_offset(self) -> timedelta:
        """How far the virtual clock was ahead of real time when last advanced."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'clock_offset'").fetchone()
        return timedelta(microseconds=int(row[0])) if row else timedelta(0)

    # -- writing: each call, or each transaction, is one change, written at once and
    # committed by `commit`: before an answer, or with the others of its turn of the loop

    def transaction(
        self, name: str = "", *, one_write: bool = False
    ) -> AbstractContextManager[object]:
        """The writes made inside `with data_dir.transaction():` are one change: committed
        together, or rolled back if it raises (`name`: the crash tests' step prefix;
        `one_write`: the body makes a single write, atomic by itself: no savepoint)."""
        if not self._depth:
            self._transaction_name = name
            self._transaction.one_write = one_write
        return self._transaction

    def _write(self, step: str, sql: str, *rows: tuple[Any, ...]) -> None:
        if len(rows) == 1:
            self._db.execute(sql, rows[0])
        else:
            self._db.executemany(sql, rows)
        if self._crash_at:
            self._step(self._transaction_name, step)
        if not self._depth:
            self._changed(self._transaction_name)

    def _changed(self, name: str) -> None:
        """A change is complete: commit it at the start of the loop's next turn, with the
        others made meanwhile, unless an answer commits it first (at once when no loop
        runs)."""
        if self._crash_at:
            self._batch.add(name)
        if self._due is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.commit()
            return
        self._due = loop.call_soon(self._commit_due)

    def _commit_due(self) -> None:
        self._due = None
        with suppress(Internal):  # logged; the next answer's commit reports it
            self.commit()

    def commit(self) -> None:
        """Commit every change made so far (an `Internal` error if the disk refuses)."""
        if self._due is not None:
            self._due.cancel()
            self._due = None
        if not self._db.in_transaction:
            return
        batch, self._batch = self._batch, set()
        try:
            if self._expired is not None:
                self._db.execute(
                    "DELETE FROM tombstones WHERE until <= ?", (self._expired.isoformat(),)
                )
                self._expired = None
            self._db.commit()
        except sqlite3.Error as error:
            log.error("the data directory %s could not be written: %s", self.path, error)
            self._db.rollback()
            raise Internal(
                f"The data directory could not be written ({error}); changes were lost."
            ) from None
        for name in batch:
            self._step(name, "commit")
        if self._db.total_changes - self._changes >= datafile.CHECKPOINT_EVERY:
            self._changes = self._db.total_changes
            self._checkpoints.due.set()

    def _step(self, name: str, step: str) -> None:
        if self._crash_at == f"{name}/{step}":
            os.kill(os.getpid(), signal.SIGKILL)  # the crash tests' hook (see above)

    def put_queue(self, queue: Queue, policy: bytes) -> None:
        self._write(
            "put_queue",
            "INSERT OR REPLACE INTO queues VALUES (?, ?, ?)",
            (str(queue.name), codec.dumps(queue), policy),
        )

    def delete_queue(self, name: QueueName, tasks: list[TaskName]) -> None:
        self._db.executemany("DELETE FROM tasks WHERE name = ?", ((str(n),) for n in tasks))
        self._write("delete_queue", "DELETE FROM queues WHERE name = ?", (str(name),))

    def put_task(self, task: Task) -> None:
        self._write(
            "put_task",
            "INSERT OR REPLACE INTO tasks VALUES (?, ?, ?)",
            (str(task.name), str(task.name.queue_name), codec.dumps(task)),
        )

    def update_task(self, task: Task, fields: tuple[str, ...]) -> None:
        """Write only these fields of a stored task (SQLite's json_set rewrites the record
        without Python encoding all of it again, and no index changes)."""
        if not self._json_set:
            self.put_task(task)
            return
        sql = self._updates.get(fields)
        if sql is None:
            paths = ", ".join(f"'$.{name}', json(?)" for name in fields)
            sql = self._updates[fields] = (
                f"UPDATE tasks SET record = json_set(record, {paths}) WHERE name = ?"
            )
        self._write("put_task", sql, (*codec.dumps_fields(task, fields), str(task.name)))

    def delete_tasks(self, names: list[TaskName]) -> None:
        self._write("delete_tasks", "DELETE FROM tasks WHERE name = ?", *((str(n),) for n in names))

    def put_tombstones(self, kind: str, entries: list[tuple[str, datetime]], now: datetime) -> None:
        self._expired = now  # those reserved until then are deleted by the commit
        self._write(
            "put_tombstones",
            "INSERT OR REPLACE INTO tombstones VALUES (?, ?, ?)",
            *((kind, name, until.isoformat()) for name, until in entries),
        )

    def put_cmek(self, location: LocationName, key: str) -> None:
        if key:
            self._write(
                "put_cmek", "INSERT OR REPLACE INTO cmek VALUES (?, ?)", (str(location), key)
            )
        else:
            self._write("put_cmek", "DELETE FROM cmek WHERE location = ?", (str(location),))

    def put_operation(self, name: str, data: bytes, request_id: str, keep: int) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO operations (name, data, request_id) VALUES (?, ?, ?)",
            (name, data, request_id),
        )
        self._write(
            "put_operation",
            "DELETE FROM operations WHERE seq <= (SELECT MAX(seq) FROM operations) - ?",
            (keep,),
        )

    def put_clock_offset(self, offset: timedelta) -> None:
        micros = str(offset // timedelta(microseconds=1))
        self._write(
            "put_clock_offset", "INSERT OR REPLACE INTO meta VALUES ('clock_offset', ?)", (micros,)
        )

    def reset(self) -> None:
        for table in ("queues", "tasks", "tombstones", "cmek", "operations"):
            self._db.execute(f"DELETE FROM {table}")
        self._write("reset", "DELETE FROM meta WHERE key = 'clock_offset'")

    def close(self) -> None:
        self.commit()
        self._checkpoints.stop()
        self._db.close()


def _load(db: sqlite3.Connection, now: datetime) -> Snapshot:
    snapshot = Snapshot()
    for record, policy in db.execute("SELECT record, policy FROM queues ORDER BY name"):
        snapshot.queues.append((codec.loads(record, Queue), policy or b""))
    rows = db.execute("SELECT record FROM tasks")
    snapshot.tasks = sorted((codec.loads(r, Task) for (r,) in rows), key=lambda t: t.seq)
    for kind, name, until in db.execute("SELECT kind, name, until FROM tombstones ORDER BY until"):
        when = datetime.fromisoformat(until)
        if when > now:
            snapshot.tombstones.append((kind, name, when))
    snapshot.cmek = {
        LocationName.parse(location): key
        for location, key in db.execute("SELECT location, key FROM cmek")
    }
    snapshot.operations = list(
        db.execute("SELECT name, data, request_id FROM operations ORDER BY seq")
    )
    return snapshot


class _Transaction:
    """`DataDir.transaction()`'s context (one per data directory, reused). When other
    changes wait for the same commit, the transaction is a savepoint: one that fails
    is rolled back alone."""

    __slots__ = ("_dir", "_savepoint", "one_write")

    def __init__(self, data_dir: DataDir) -> None:
        self._dir = data_dir
        self._savepoint = False
        self.one_write = False

    def __enter__(self) -> object:
        data_dir = self._dir
        if not data_dir._depth:
            self._savepoint = not self.one_write and data_dir._db.in_transaction
            if self._savepoint:
                data_dir._db.execute("SAVEPOINT change")
        data_dir._depth += 1
        return self

    def __exit__(self, error_type: object, *_: object) -> None:
        data_dir = self._dir
        data_dir._depth -= 1
        if data_dir._depth:
            return
        name, data_dir._transaction_name = data_dir._transaction_name, ""
        db = data_dir._db
        if error_type is None:
            if self._savepoint:
                db.execute("RELEASE change")
            data_dir._changed(name)
        elif self._savepoint:
            db.execute("ROLLBACK TO change")
            db.execute("RELEASE change")
        else:
            db.rollback()
