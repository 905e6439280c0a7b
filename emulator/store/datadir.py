"""`--data-dir`: the store's state in SQLite, written before each change returns.

One file, `state.sqlite3`, in write-ahead-log mode with `synchronous=NORMAL`: a commit is
on disk before the RPC that made it answers, so a killed process (`kill -9`, a crashed
container) loses nothing that was acknowledged. (A power cut may lose the last commits;
an emulator does not pay for fsync on every call.) The records are JSON
(`emulator.store.codec`), so the file is readable with the `sqlite3` shell.

The file carries its format number. A file of another format, or one that is not a
database, stops the start-up with a clear error: the emulator never resets it silently.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from emulator.errors import StartupError
from emulator.store import codec
from emulator.store.names import LocationName, QueueName, TaskName
from emulator.store.records import Queue, Task
from emulator.version import __version__

FORMAT = 1
FILE = "state.sqlite3"

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
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path / FILE, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._check_format()
            self._db.executescript(_SCHEMA)
            self._db.commit()
        except sqlite3.DatabaseError as error:
            raise StartupError(
                f"cannot read the data directory {self.path}: {error}; it may be corrupted. "
                "Use another --data-dir, or delete this one to start empty."
            ) from None
        except OSError as error:
            raise StartupError(f"cannot use the data directory {self.path}: {error}") from None

    def _check_format(self) -> None:
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master")}
        if not tables:
            self._db.executescript(_SCHEMA)
            self._db.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [("format", str(FORMAT)), ("written_by", __version__)],
            )
            return
        found = dict(self._db.execute("SELECT key, value FROM meta")) if "meta" in tables else {}
        if found.get("format") != str(FORMAT):
            raise StartupError(
                f"the data directory {self.path} holds format {found.get('format', 'unknown')} "
                f"(written by cloud-tasks-emulator {found.get('written_by', 'unknown')}); this "
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

    # -- writing (each call commits: the change is durable when it returns) ------------

    def _write(self, sql: str, *rows: tuple[Any, ...]) -> None:
        self._db.executemany(sql, rows)
        self._db.commit()

    def put_queue(self, queue: Queue, policy: bytes) -> None:
        self._write(
            "INSERT OR REPLACE INTO queues VALUES (?, ?, ?)",
            (str(queue.name), codec.dumps(queue), policy),
        )

    def delete_queue(self, name: QueueName) -> None:
        self._db.execute("DELETE FROM tasks WHERE queue = ?", (str(name),))
        self._write("DELETE FROM queues WHERE name = ?", (str(name),))

    def put_task(self, task: Task) -> None:
        self._write(
            "INSERT OR REPLACE INTO tasks VALUES (?, ?, ?)",
            (str(task.name), str(task.name.queue_name), codec.dumps(task)),
        )

    def delete_tasks(self, names: list[TaskName]) -> None:
        self._write("DELETE FROM tasks WHERE name = ?", *((str(n),) for n in names))

    def put_tombstones(self, kind: str, entries: list[tuple[str, datetime]], now: datetime) -> None:
        self._db.execute("DELETE FROM tombstones WHERE until <= ?", (now.isoformat(),))
        self._write(
            "INSERT OR REPLACE INTO tombstones VALUES (?, ?, ?)",
            *((kind, name, until.isoformat()) for name, until in entries),
        )

    def put_cmek(self, location: LocationName, key: str) -> None:
        if key:
            self._write("INSERT OR REPLACE INTO cmek VALUES (?, ?)", (str(location), key))
        else:
            self._write("DELETE FROM cmek WHERE location = ?", (str(location),))

    def put_operation(self, name: str, data: bytes, request_id: str, keep: int) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO operations (name, data, request_id) VALUES (?, ?, ?)",
            (name, data, request_id),
        )
        self._write(
            "DELETE FROM operations WHERE seq <= (SELECT MAX(seq) FROM operations) - ?", (keep,)
        )

    def put_clock_offset(self, offset: timedelta) -> None:
        micros = str(offset // timedelta(microseconds=1))
        self._write("INSERT OR REPLACE INTO meta VALUES ('clock_offset', ?)", (micros,))

    def reset(self) -> None:
        for table in ("queues", "tasks", "tombstones", "cmek", "operations"):
            self._db.execute(f"DELETE FROM {table}")
        self._write("DELETE FROM meta WHERE key = 'clock_offset'")

    def close(self) -> None:
        self._db.close()


class InMemory:
    """No data directory: every write is a no-op (the default, and the fast path)."""

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
