"""Names that stay reserved for a while after their task or queue is gone.

A long-running emulator reserves the name of every finished task; expired names are
dropped as new ones are added (oldest expiry first), so memory holds only the names
still reserved, however long it runs.
"""

from __future__ import annotations

import heapq
from datetime import datetime


class Tombstones:
    def __init__(self) -> None:
        self._until: dict[str, datetime] = {}
        self._expiries: list[tuple[datetime, str]] = []  # a heap, with stale entries

    def add(self, name: str, until: datetime, now: datetime) -> None:
        self._drop_expired(now)
        self._until[name] = until
        heapq.heappush(self._expiries, (until, name))

    def holds(self, name: str, now: datetime) -> bool:
        until = self._until.get(name)
        return until is not None and until > now

    def _drop_expired(self, now: datetime) -> None:
        expiries = self._expiries
        while expiries and expiries[0][0] <= now:
            until, name = heapq.heappop(expiries)
            if self._until.get(name) == until:  # not reserved again since
                del self._until[name]

    def __len__(self) -> int:
        return len(self._until)

    def clear(self) -> None:
        self._until.clear()
        self._expiries.clear()
