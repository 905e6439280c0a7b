"""`--data-dir`: the store's state in SQLite, written before each change returns.

One file, `state.sqlite3`, in write-ahead-log mode with `synchronous=NORMAL`: a commit is
on disk before the RPC that made it answers, so a killed process (`kill -9`, a crashed
container) loses nothing that was acknowledged. (A power cut may lose the last commits;
an emulator does not pay for fsync on every call.) The records are JSON
(`emulator.store.codec`), so the file is readable with the `sqlite3` shell.

The file carries its format number. It is checked through a read-only connection before
anything is written: a file of another format, another application's database, or one that
is not a database stops the start-up with a clear error and is left byte for byte as it was
(not switched to WAL, nothing created beside it). The emulator never resets it silently.

A change that takes several writes (settling an attempt: the task's result, then its next
schedule, or its deletion and the tombstone that keeps its name reserved) is one
transaction (`DataDir.transaction`): a process killed at any point keeps all of it or none.

Fault injection, for the crash tests only: when CLOUD_TASKS_EMULATOR_CRASH_AT (read once,
when the data directory opens) names a step, `TRANSACTION/WRITE` (e.g. `settle/delete_tasks`,
after that write and before the commit) or `TRANSACTION/commit` (just after the commit),
the process kills itself with SIGKILL when it reaches that step.
"""

from __future__ import annotations

import os
import signal
import sqlite3
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from emulator.core.errors import StartupError
from emulator.core.version import __version__
from emulator.store import codec
from emulator.store.names import LocationName, QueueName, TaskName
from emulator.store.records import Queue, Task

FORMAT = 1
FILE = "state.sqlite3"
CRASH_AT = "CLOUD_TASKS_EMULATOR_CRASH_AT"  # the crash tests' hook (see above)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS queues (name TEXT PRIMARY KEY, record TEXT NOT NULL, policy BLOB);
CREATE TABLE IF NOT EXISTS tasks (name TEXT PRIMARY KEY, queue TEXT NOT NULL, record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tasks_by_queue ON tasks (queue);
CREATE TABLE IF NOT EXISTS tombstones (
    kind TEXT NOT NULL, name TEXT NOT NULL, until TEXT NOT NULL, PRIMARY KEY (kind, name));
CREATE INDEX IF NOT EXISTS tombstones_by_until ON tombstones (until);
CREATE TABLE IF NOT EXISTS cmek (location TEXT PRIMARY KEY, key TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS operations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL, data BLOB NOT NULL,
    request_id TEXT NOT NULL);
"""


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
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            file = self.path / FILE
            new = not file.exists() or file.stat().st_size == 0 or self._check_format(file)
            self._db = sqlite3.connect(file, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            # The schema and the format number, in one transaction.
            stamp = (
                f"INSERT INTO meta VALUES ('format', '{FORMAT}'), ('written_by', '{__version__}');"
                if new
                else ""
            )
            self._db.executescript(f"BEGIN; {_SCHEMA} {stamp} COMMIT;")
        except sqlite3.DatabaseError as error:
            raise StartupError(
                f"cannot read the data directory {self.path}: {error}; it may be corrupted. "
                "Use another --data-dir, or delete this one to start empty."
            ) from None
        except OSError as error:
            raise StartupError(f"cannot use the data directory {self.path}: {error}") from None

    def _check_format(self, file: Path) -> bool:
        """Whether the existing `file` is an empty database (True) or one of this format
        (False); anything else is a StartupError. Read through a read-only connection,
        so that a file it refuses is left exactly as it was."""
        # Reading a database in WAL mode creates its -wal and -shm files when they are
        # missing: those this check made are removed again when it refuses the file.
        made = [p for p in (Path(f"{file}-wal"), Path(f"{file}-shm")) if not p.exists()]
        try:
            tables, meta = _read_format(file)
        except BaseException:
            _remove(made)
            raise
        if not tables:
            return True
        if meta.get("format") == str(FORMAT):
            return False
        _remove(made)
        if "meta" not in tables:
            raise StartupError(
                f"the data directory {self.path} holds a database of another application "
                f"({FILE} has the tables {', '.join(sorted(tables))}); it was left unchanged. "
                "Use another --data-dir, or delete this one to start empty."
            )
        raise StartupError(
            f"the data directory {self.path} holds format {meta.get('format', 'unknown')} "
            f"(written by cloud-tasks-emulator {meta.get('written_by', 'unknown')}); this "
            f"emulator ({__version__}) reads format {FORMAT}. Use another --data-dir, or "
            "delete this one to start empty."
        )

    # -- reading ---------------------------------------------------------------------

    def load(self, now: datetime) -> Snapshot:
        """The stored state; tombstones that expired meanwhile are left out."""
        try:
            return self._load(now)
        except (sqlite3.DatabaseError, ValueError, KeyError, TypeError) as error:
            raise StartupError(
                f"the data directory {self.path} cannot be read ({error}); it may be "
                "corrupted. Use another --data-dir, or delete this one to start empty."
            ) from None

    def _load(self, now: datetime) -> Snapshot:
        db = self._db
        snapshot = Snapshot()
        for record, policy in db.execute("SELECT record, policy FROM queues ORDER BY name"):
            snapshot.queues.append((codec.loads(record, Queue), policy or b""))
        rows = db.execute("SELECT record FROM tasks")
        snapshot.tasks = sorted((codec.loads(r, Task) for (r,) in rows), key=lambda t: t.seq)
        for kind, name, until in db.execute(
            "SELECT kind, name, until FROM tombstones ORDER BY until"
        ):
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

    def clock_offset(self) -> timedelta:
        """How far the virtual clock was ahead of real time when last advanced."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'clock_offset'").fetchone()
        return timedelta(microseconds=int(row[0])) if row else timedelta(0)

    # -- writing (each call commits, unless a transaction is open: the change is durable
    # when the call, or the transaction, returns) -------------------------------------

    def transaction(self, name: str = "") -> AbstractContextManager[object]:
        """The writes made inside `with data_dir.transaction():` commit together when it
        ends, or not at all if it raises (`name`: the crash tests' step prefix)."""
        if not self._depth:
            self._transaction_name = name
        return self._transaction

    def _write(self, step: str, sql: str, *rows: tuple[Any, ...]) -> None:
        self._db.executemany(sql, rows)
        if self._crash_at:
            self._step(step)
        if not self._depth:
            self._commit()

    def _commit(self) -> None:
        self._db.commit()
        if self._crash_at:
            self._step("commit")

    def _step(self, step: str) -> None:
        if self._crash_at == f"{self._transaction_name}/{step}":
            os.kill(os.getpid(), signal.SIGKILL)  # the crash tests' hook (see above)

    def put_queue(self, queue: Queue, policy: bytes) -> None:
        self._write(
            "put_queue",
            "INSERT OR REPLACE INTO queues VALUES (?, ?, ?)",
            (str(queue.name), codec.dumps(queue), policy),
        )

    def delete_queue(self, name: QueueName) -> None:
        self._db.execute("DELETE FROM tasks WHERE queue = ?", (str(name),))
        self._write("delete_queue", "DELETE FROM queues WHERE name = ?", (str(name),))

    def put_task(self, task: Task) -> None:
        self._write(
            "put_task",
            "INSERT OR REPLACE INTO tasks VALUES (?, ?, ?)",
            (str(task.name), str(task.name.queue_name), codec.dumps(task)),
        )

    def delete_tasks(self, names: list[TaskName]) -> None:
        self._write("delete_tasks", "DELETE FROM tasks WHERE name = ?", *((str(n),) for n in names))

    def put_tombstones(self, kind: str, entries: list[tuple[str, datetime]], now: datetime) -> None:
        self._db.execute("DELETE FROM tombstones WHERE until <= ?", (now.isoformat(),))
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
        self._db.close()


def _read_format(file: Path) -> tuple[set[str], dict[str, str]]:
    """The database's table names and its `meta` table (read-only: nothing is written)."""
    db = sqlite3.connect(file.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if "meta" not in tables:
            return tables, {}
        return tables, {str(k): str(v) for k, v in db.execute("SELECT key, value FROM meta")}
    finally:
        db.close()


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


class _Transaction:
    """`DataDir.transaction()`'s context (one per data directory, reused)."""

    __slots__ = ("_dir",)

    def __init__(self, data_dir: DataDir) -> None:
        self._dir = data_dir

    def __enter__(self) -> object:
        self._dir._depth += 1
        return self

    def __exit__(self, error_type: object, *_: object) -> None:
        data_dir = self._dir
        data_dir._depth -= 1
        if data_dir._depth:
            return
        try:
            if error_type is None:
                data_dir._commit()
            else:
                data_dir._db.rollback()
        finally:
            data_dir._transaction_name = ""


_NO_TRANSACTION = nullcontext(None)  # reusable: InMemory's transactions cost nothing


class InMemory:
    """No data directory: every write is a no-op (the default, and the fast path)."""

    def transaction(self, name: str = "") -> AbstractContextManager[object]:
        return _NO_TRANSACTION

    def put_queue(self, queue: Queue, policy: bytes) -> None: ...
    def delete_queue(self, name: QueueName) -> None: ...
    def put_task(self, task: Task) -> None: ...
    def delete_tasks(self, names: list[TaskName]) -> None: ...
    def put_tombstones(
        self, kind: str, entries: list[tuple[str, datetime]], now: datetime
    ) -> None: ...
    def put_cmek(self, location: LocationName, key: str) -> None: ...
    def put_operation(self, name: str, data: bytes, request_id: str, keep: int) -> None: ...
    def put_clock_offset(self, offset: timedelta) -> None: ...
    def reset(self) -> None: ...
    def close(self) -> None: ...


Disk = DataDir | InMemory
