"""The store: the one source of truth for queues, tasks and attempts, and their only
writer (in memory, or in SQLite with a data directory)."""

from emulator.store.store import Store

__all__ = ["Store"]
