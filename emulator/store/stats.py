"""What each queue has done: counters and histograms for /metrics, and outcomes per ten
seconds of the last ten minutes for the dashboard's chart.

Kept by the store, one `QueueStats` per queue, written only by its methods; cheap enough
to update on every task and attempt (integer increments and one bisect).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import datetime

BUCKET_SECONDS = 10  # one bar of the dashboard's chart
BUCKETS_KEPT = 60  # ten minutes of bars

# Histogram upper bounds, in seconds (Prometheus' `le`).
LATENCY_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
LATENESS_BOUNDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 300.0)


@dataclass(slots=True)
class Histogram:
    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)  # per bucket, the last one is +Inf
    total: float = 0.0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, int]]:
        """(`le`, count of observations at or below it) pairs, ending with +Inf."""
        running, out = 0, []
        for bound, count in zip([*map(str, self.bounds), "+Inf"], self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out


@dataclass(slots=True)
class Outcomes:
    """Attempts that succeeded and failed within one ten-second bucket."""

    succeeded: int = 0
    failed: int = 0


@dataclass(slots=True)
class QueueStats:
    created: int = 0  # tasks created in the queue
    dispatched: int = 0  # attempts started (RunTask included)
    succeeded: int = 0  # tasks deleted after a 2xx
    retried: int = 0  # failed attempts whose task was scheduled again
    dropped: int = 0  # tasks deleted when their retries ran out
    latency: Histogram = field(default_factory=lambda: Histogram(LATENCY_BOUNDS))
    lateness: Histogram = field(default_factory=lambda: Histogram(LATENESS_BOUNDS))
    recent: dict[int, Outcomes] = field(default_factory=dict)  # by bucket number

    def attempt_settled(self, at: datetime, *, succeeded: bool, latency: float) -> None:
        self.latency.observe(latency)
        bucket = int(at.timestamp()) // BUCKET_SECONDS
        outcomes = self.recent.get(bucket)
        if outcomes is None:
            outcomes = self.recent[bucket] = Outcomes()
            for old in [b for b in self.recent if b <= bucket - BUCKETS_KEPT]:
                del self.recent[old]
        if succeeded:
            outcomes.succeeded += 1
        else:
            outcomes.failed += 1

    def timeline(self, now: datetime) -> list[Outcomes]:
        """Outcomes of the last ten minutes, oldest bucket first, one per ten seconds."""
        last = int(now.timestamp()) // BUCKET_SECONDS
        return [self.recent.get(b, Outcomes()) for b in range(last - BUCKETS_KEPT + 1, last + 1)]
