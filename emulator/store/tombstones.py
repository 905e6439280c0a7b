"""Names that stay reserved for a while after their task or queue is gone."""

from __future__ import annotations

from datetime import datetime


class Tombstones:
    """Names reserved until their expiry, dropped lazily when looked up."""

    def __init__(self) -> None:
        self._until: dict[str, datetime] = {}

    def add(self, name: str, until: datetime) -> None:
        self._until[name] = until

    def holds(self, name: str, now: datetime) -> bool:
        until = self._until.get(name)
        if until is None:
            return False
        if until <= now:
            del self._until[name]
            return False
        return True

    def clear(self) -> None:
        self._until.clear()
