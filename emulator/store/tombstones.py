"""Names that stay reserved for a while after their task or queue is gone.

Reservations are grouped (a task's by its queue; queue names in one group) and keyed by
the short id the task or queue already holds, so a reservation costs a dict entry and a
float, not a new copy of the full name. Within a group, names are reserved for the same
time-to-live in the order they go, so they expire in the order they were added: expired
ones are dropped from the front of their group as new ones come in, and every group is
swept now and then, so a long-running emulator holds only the names still reserved.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime

_SWEEP_EVERY = 1024  # reservations added between sweeps of every group


class Tombstones:
    def __init__(self) -> None:
        self._groups: dict[Hashable, dict[str, float]] = {}  # key -> until (epoch seconds)
        self._adds = 0

    def add(self, group: Hashable, key: str, until: datetime, now: datetime) -> None:
        entries = self._groups.setdefault(group, {})
        entries.pop(key, None)  # reserved again: it moves to the back, in expiry order
        entries[key] = until.timestamp()
        self._adds += 1
        if self._adds % _SWEEP_EVERY == 0:
            self._sweep(now.timestamp())
        else:
            _drop_expired(entries, now.timestamp())

    def holds(self, group: Hashable, key: str, now: datetime) -> bool:
        entries = self._groups.get(group)
        until = entries.get(key) if entries else None
        return until is not None and until > now.timestamp()

    def _sweep(self, now: float) -> None:
        for group in list(self._groups):
            entries = self._groups[group]
            _drop_expired(entries, now)
            if not entries:
                del self._groups[group]

    def clear(self) -> None:
        self._groups.clear()


def _drop_expired(entries: dict[str, float], now: float) -> None:
    """Drop the expired reservations at the front of a group (its oldest)."""
    expired = []
    for key, until in entries.items():
        if until > now:
            break
        expired.append(key)
    for key in expired:
        del entries[key]
