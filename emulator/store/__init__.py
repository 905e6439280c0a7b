"""The in-memory store: typed records, names, defaults and limits."""

from emulator.store.store import Store

__all__ = ["Store"]
