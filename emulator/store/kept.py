"""What the store keeps beside queues and tasks: attempts, operations, CMEK keys.

Each is owned by the `Store` (it creates them and clears them on reset); their methods
are the only writers of their collections.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from datetime import datetime, timedelta

from emulator.core import limits
from emulator.store.disk import Disk
from emulator.store.names import LocationName
from emulator.store.records import RESPONSE_BODY_KEPT, Attempt

_RECENT = timedelta(minutes=1)


class AttemptHistory:
    """The newest `size` delivery attempts, oldest first (0 keeps none). An older
    attempt, with its headers, body and the first bytes of its answer (at most
    RESPONSE_BODY_KEPT), is dropped when a new one is recorded. Apart from
    them, when each queue's attempts of the last minute settled (v2beta3 stats)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._kept: deque[Attempt] = deque(maxlen=size)
        self._recent: dict[str, deque[datetime]] = {}  # by full queue name

    def record(self, attempt: Attempt) -> None:
        self._kept.append(attempt)

    def settle(
        self,
        attempt: Attempt,
        *,
        status: int | None,
        error: str | None,
        at: datetime,
        response_body: bytes = b"",
    ) -> None:
        """Complete an attempt with its outcome (kept or already dropped); of the answer's
        body, the first RESPONSE_BODY_KEPT bytes are kept."""
        attempt.status, attempt.error, attempt.response_time = status, error, at
        attempt.response_body = response_body[:RESPONSE_BODY_KEPT]
        recent = self._recent.setdefault(attempt.queue_name, deque())
        recent.append(at)
        while recent and recent[0] < at - _RECENT:
            recent.popleft()

    def settled_since(self, queue_name: str, since: datetime) -> int:
        """How many of the queue's attempts settled at `since` or later (within a minute)."""
        return sum(1 for at in self._recent.get(queue_name, ()) if at >= since)

    def all(self) -> list[Attempt]:
        return list(self._kept)

    def clear(self) -> None:
        self._kept.clear()
        self._recent.clear()


class Operations:
    """Finished batch operations (serialized google.longrunning.Operation) by name, and
    the operation each batch `request_id` made (idempotency). The newest `size` are kept:
    a batch operation holds every task it created, so keeping all would grow forever."""

    def __init__(self, disk: Disk, size: int = limits.OPERATIONS_KEPT) -> None:
        self._disk = disk
        self._size = size
        self._by_name: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
        self._by_request_id: dict[str, str] = {}

    def put(self, name: str, operation: bytes, request_id: str = "") -> None:
        self._disk.put_operation(name, operation, request_id, self._size)
        self.restore(name, operation, request_id)

    def restore(self, name: str, operation: bytes, request_id: str) -> None:
        """Keep an operation read from the data directory (not written back)."""
        self._by_name[name] = (operation, request_id)
        if request_id:
            self._by_request_id[request_id] = name
        if len(self._by_name) > self._size:
            _, (_, old_request_id) = self._by_name.popitem(last=False)
            self._by_request_id.pop(old_request_id, None)

    def find(self, name: str) -> bytes | None:
        kept = self._by_name.get(name)
        return kept[0] if kept else None

    def for_request(self, request_id: str) -> bytes | None:
        name = self._by_request_id.get(request_id)
        return self.find(name) if name else None

    def clear(self) -> None:
        self._by_name.clear()
        self._by_request_id.clear()


class CmekKeys:
    """The KMS key of each location's CMEK config; none configured by default."""

    def __init__(self, disk: Disk) -> None:
        self._disk = disk
        self._keys: dict[LocationName, str] = {}

    def get(self, location: LocationName) -> str:
        return self._keys.get(location, "")

    def set(self, location: LocationName, key: str) -> None:
        """An empty key turns CMEK off."""
        self._disk.put_cmek(location, key)
        self.restore(location, key)

    def restore(self, location: LocationName, key: str) -> None:
        if key:
            self._keys[location] = key
        else:
            self._keys.pop(location, None)

    def clear(self) -> None:
        self._keys.clear()
