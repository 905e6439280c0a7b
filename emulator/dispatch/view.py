"""What the rest of the emulator may read of delivery: a narrow, read-only view.

Test control (idle, advance), the dashboard, the metrics and the v2beta3 queue stats read
what is in flight and why delivery is busy through `DeliveryView` only; the dispatcher
provides it (`Dispatcher.view`) and keeps its own state to itself.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from emulator.store.names import QueueName
from emulator.store.records import Task


@dataclass(frozen=True, slots=True)
class AttemptInFlight:
    """A snapshot of an attempt under way: its queue, when it began (real seconds) and its
    deadline (on the emulator's clock); with a dispatch latency (rough edges), when it is
    dispatched, until it is."""

    queue: QueueName
    started: float
    deadline: datetime
    waiting_until: datetime | None = None


class DeliveryView(Protocol):
    def in_flight_total(self) -> int:
        """Attempts in flight, in every queue."""
        ...

    def in_flight_count(self, queue: QueueName) -> int:
        """Attempts in flight of `queue`."""
        ...

    def in_flight_by_queue(self) -> Counter[QueueName]:
        """Attempts in flight, by queue (a queue with none counts 0)."""
        ...

    def is_in_flight(self, task: Task) -> bool:
        """Whether an attempt of `task` is under way."""
        ...

    def attempts_in_flight(self) -> list[AttemptInFlight]:
        """Every attempt under way, as snapshots."""
        ...

    def queues_to_look_at(self) -> list[QueueName]:
        """Queues with changes the dispatcher has not looked at yet (a pass is due)."""
        ...

    def rate_limited_queues(self) -> list[QueueName]:
        """Queues whose due tasks wait for a token of their rate limit."""
        ...

    def enforced_rate(self, queue: QueueName) -> float | None:
        """A throttled queue's current dispatch rate (rough edges); None when it is not."""
        ...

    async def wait_for_change(self, timeout: float) -> bool:
        """Until the dispatcher's next pass or settled attempt, at most `timeout` seconds;
        whether one came."""
        ...
