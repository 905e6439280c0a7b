"""The data directory's file, `state.sqlite3`: opened only after its format is checked,
with its schema and settings; and checkpointed on a thread of its own.

The format is checked through a read-only connection before anything is written: a file
of another format, another application's database, or one that is not a database stops
the start-up with a clear error and is left byte for byte as it was (not switched to WAL,
nothing created beside it).

Settings: write-ahead log with `synchronous=NORMAL` (a commit is in the operating system's
hands when it returns: it survives the process being killed, not a power cut, which may
lose the last commits but never corrupts the file); no automatic checkpoints (copying the
log into the database, with an fsync): a `Checkpointer` thread does them, so no commit on
the event loop ever waits for the disk.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from emulator.core.errors import StartupError
from emulator.core.version import __version__

FORMAT = 1
FILE = "state.sqlite3"
CHECKPOINT_EVERY = 400  # rows changed (SQLite's own default: every 1,000 pages of log)

log = logging.getLogger("emulator.store")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS queues (name TEXT PRIMARY KEY, record TEXT NOT NULL, policy BLOB);
CREATE TABLE IF NOT EXISTS tasks (name TEXT PRIMARY KEY, queue TEXT NOT NULL, record TEXT NOT NULL);
DROP INDEX IF EXISTS tasks_by_queue; -- (a queue's tasks are deleted by name: a page less a commit)
CREATE TABLE IF NOT EXISTS tombstones (
    kind TEXT NOT NULL, name TEXT NOT NULL, until TEXT NOT NULL, PRIMARY KEY (kind, name));
CREATE INDEX IF NOT EXISTS tombstones_by_until ON tombstones (until);
CREATE TABLE IF NOT EXISTS cmek (location TEXT PRIMARY KEY, key TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS operations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL, data BLOB NOT NULL,
    request_id TEXT NOT NULL);
"""


def open_database(path: Path) -> sqlite3.Connection:
    """`path`/state.sqlite3, made if missing, its format checked; a StartupError says
    why it cannot be used."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        file = path / FILE
        new = not file.exists() or file.stat().st_size == 0 or _check_format(path, file)
        db = sqlite3.connect(file, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA wal_autocheckpoint=0")  # the Checkpointer's work
        # The schema and the format number, in one transaction.
        stamp = (
            f"INSERT INTO meta VALUES ('format', '{FORMAT}'), ('written_by', '{__version__}');"
            if new
            else ""
        )
        db.executescript(f"BEGIN; {_SCHEMA} {stamp} COMMIT;")
    except sqlite3.DatabaseError as error:
        raise StartupError(
            f"cannot read the data directory {path}: {error}; it may be corrupted. "
            "Use another --data-dir, or delete this one to start empty."
        ) from None
    except OSError as error:
        raise StartupError(f"cannot use the data directory {path}: {error}") from None
    return db


def _check_format(path: Path, file: Path) -> bool:
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
            f"the data directory {path} holds a database of another application "
            f"({FILE} has the tables {', '.join(sorted(tables))}); it was left unchanged. "
            "Use another --data-dir, or delete this one to start empty."
        )
    raise StartupError(
        f"the data directory {path} holds format {meta.get('format', 'unknown')} "
        f"(written by cloud-tasks-emulator {meta.get('written_by', 'unknown')}); this "
        f"emulator ({__version__}) reads format {FORMAT}. Use another --data-dir, or "
        "delete this one to start empty."
    )


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


def has_json_set(db: sqlite3.Connection) -> bool:
    """Whether this SQLite has its JSON functions (built in since 3.38, an option before)."""
    try:
        db.execute("SELECT json_set('{}', '$.a', json('1'))")
    except sqlite3.OperationalError:
        return False
    return True


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


class Checkpointer(threading.Thread):
    """Copies the write-ahead log into the database when `due` is set, through its own
    connection (a PASSIVE checkpoint never blocks the writer)."""

    def __init__(self, file: Path) -> None:
        super().__init__(name="data-dir checkpoints", daemon=True)
        self.file = file
        self.due = threading.Event()
        self._stopping = False
        self.start()

    def run(self) -> None:
        db = sqlite3.connect(self.file)
        try:
            while True:
                self.due.wait()
                self.due.clear()
                if self._stopping:
                    return
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as error:  # tried again with the next one
                    log.warning("checkpointing %s failed: %s", self.file, error)
        finally:
            db.close()

    def stop(self) -> None:
        self._stopping = True
        self.due.set()
        self.join()
