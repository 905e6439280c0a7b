"""A token bucket driven by the clock: capacity = burst size, refilled at the rate."""

from __future__ import annotations

from datetime import datetime, timedelta

_EPSILON = 1e-9


class TokenBucket:
    def __init__(self, rate: float, capacity: int, now: datetime) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = float(capacity)  # a new or resumed queue starts with a full bucket
        self._updated = now

    def _refill(self, now: datetime) -> None:
        elapsed = (now - self._updated).total_seconds()
        if elapsed > 0:
            self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
            self._updated = now

    def configure(self, rate: float, capacity: int, now: datetime) -> None:
        """New limits take effect at once; tokens already earned are kept up to capacity."""
        self._refill(now)
        self.rate, self.capacity = rate, capacity
        self.tokens = min(self.tokens, capacity)

    def take(self, now: datetime) -> bool:
        self._refill(now)
        if self.tokens >= 1 - _EPSILON:  # float refills may land a hair under 1
            self.tokens = max(0.0, self.tokens - 1)
            return True
        return False

    def next_token_at(self, now: datetime) -> datetime:
        self._refill(now)
        missing = max(0.0, 1 - self.tokens)
        return now + timedelta(seconds=missing / self.rate)
