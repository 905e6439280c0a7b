"""Production's rough edges in delivery (docs/production-parity.md): the seeded draws, each
queue's throttle, and the registry of what is switched on where.

Every draw is a pure function of the seed, the queue, the task's place in creation order
and the attempt, never of the order in which things happen: a run repeats exactly even
when attempts in flight are answered in another real-time order.

Throttling follows the Cloud Tasks docs ("Issues and limitations": backoff errors and
enforced rates; `RateLimits`, `AppEngineHttpRequest`): a 429 or 503 answer (503 only for
App Engine targets) slows the queue down, and it speeds up again once the errors stop.
The docs give no numbers; the emulator's rule (halve per throttling answer, double per
RECOVERY_SUCCESSES successes in a row) is its own choice, written in docs/production-parity.md.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from emulator.core.rough_edges import RoughEdges
from emulator.store.names import QueueName
from emulator.store.records import Task

log = logging.getLogger("emulator.dispatch")

THROTTLE_HALVINGS = 6  # at most: a throttled queue keeps at least 1/64 of its rate
RECOVERY_SUCCESSES = 10  # 2xx answers in a row that double a throttled rate again
_OFF = RoughEdges()


def draw(seed: int, *parts: object) -> int:
    """A 64-bit number that depends on `seed` and `parts` alone (the same in every run)."""
    key = "/".join(str(part) for part in (seed, *parts)).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


class QueueEdges:
    """One queue's rough edges: its settings, its seed, and its throttle state (`level`
    halvings of the configured rate; `streak` successes since the last error)."""

    __slots__ = ("config", "level", "queue", "seed", "streak")

    def __init__(self, queue: QueueName, config: RoughEdges, seed: int) -> None:
        self.queue, self.config, self.seed = str(queue), config, seed
        self.level = self.streak = 0

    def order_key(self, task: Task) -> int:
        """Where a due task goes among those due with it (shuffle): a new place for
        each of its attempts."""
        return draw(self.seed, self.queue, task.seq, task.dispatch_count, "order")

    def dispatch_at(self, task: Task, now: datetime, again: int | None) -> datetime | None:
        """When an attempt whose place is taken `now` is dispatched, if not at once: after
        its latency; a duplicate of attempt `again` always waits for its time, even now."""
        if again is not None:
            return now + self.latency(task, again, "latency of its duplicate")
        delay = self.latency(task, task.dispatch_count + 1)
        return now + delay if delay else None

    def latency(self, task: Task, attempt: int, purpose: str = "latency") -> timedelta:
        """The delay before `attempt` of `task` (or, by `purpose`, before its duplicate
        delivery): whole microseconds from min to max. Each purpose draws on its own."""
        if self.config.latency is None:
            return timedelta(0)
        low, high = self.config.latency
        span = (high - low) // timedelta(microseconds=1) + 1
        pick = draw(self.seed, self.queue, task.seq, attempt, purpose) % span
        return low + timedelta(microseconds=pick)

    def duplicate(self, task: Task, attempt: int) -> bool:
        """Whether `attempt` of `task`, having succeeded, is delivered once more."""
        fraction = self.config.duplicates
        if fraction >= 1 or not fraction:
            return fraction >= 1
        return draw(self.seed, self.queue, task.seq, attempt, "duplicate") < fraction * 2**64

    def answered(self, status: int | None, *, app_engine: bool) -> bool:
        """Count an answer (None: none came) toward the queue's throttle; whether its
        enforced rate changed."""
        if not self.config.throttle:
            return False
        level = self.level
        if status == 503 or (status == 429 and not app_engine):
            self.level, self.streak = min(level + 1, THROTTLE_HALVINGS), 0
        elif status is None or not 200 <= status < 300:
            self.streak = 0  # the errors have not stopped
        elif level:
            self.streak += 1
            if self.streak >= RECOVERY_SUCCESSES:
                self.level, self.streak = level - 1, 0
        if self.level == level:
            return False
        log.info(
            "queue=%s enforced rate: 1/%d of its own (rough edges: throttle, after %s)",
            self.queue.rsplit("/", 1)[-1],
            2**self.level,
            f"a {status} answer" if self.level > level else f"{RECOVERY_SUCCESSES} successes",
        )
        return True


Listener = Callable[[QueueName | None], None]  # a queue's settings changed (None: all)


class RoughEdgesRegistry:
    """What is switched on: the emulator's settings and each queue's own (a queue with
    its own uses those alone), as configured at start-up and changed at run time."""

    def __init__(
        self,
        default: RoughEdges = _OFF,
        per_queue: Mapping[QueueName, RoughEdges] | None = None,
    ) -> None:
        self._startup = (default, dict(per_queue or {}))
        # Without a seed, one is drawn at start (and logged): reset() keeps it.
        self._drawn_seed = random.SystemRandom().randrange(2**32)
        self._listeners: list[Listener] = []
        self._queues: dict[QueueName, QueueEdges] = {}
        self.default, self.per_queue = default, dict(self._startup[1])
        self.active = False
        self._changed(None)
        if self.active:
            log.warning("production's rough edges are on: %s", self.describe())

    @property
    def seed(self) -> int:
        """The emulator's seed: its settings' own, or the one drawn at start."""
        return self.default.seed if self.default.seed is not None else self._drawn_seed

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def restore(self) -> None:
        """Back to the start-up settings, every throttle lifted (reset)."""
        self.default, self.per_queue = self._startup[0], dict(self._startup[1])
        self._queues.clear()
        self._changed(None)

    def set(self, queue: QueueName | None, edges: RoughEdges | None) -> None:
        """New settings for `queue` (None: the emulator's); `edges` None: those of the
        start-up configuration again (for a queue without any: the emulator's)."""
        if queue is None:
            self.default = self._startup[0] if edges is None else edges
        else:
            edges = self._startup[1].get(queue) if edges is None else edges
            if edges is None:
                self.per_queue.pop(queue, None)
            else:
                self.per_queue[queue] = edges
        where = f"queue {queue.queue}" if queue is not None else "every queue"
        log.info("rough edges for %s: %s", where, self.settings(queue)[0].describe())
        self._changed(queue)

    def settings(self, queue: QueueName | None) -> tuple[RoughEdges, bool]:
        """The settings in force for `queue` (None: the emulator's), seed filled in, and
        whether the queue has its own."""
        own = queue is not None and queue in self.per_queue
        config = self.per_queue[queue] if own and queue is not None else self.default
        seed = config.seed if config.seed is not None else self.seed
        return RoughEdges(
            config.duplicates, config.shuffle, config.latency, config.throttle, seed
        ), own

    def describe(self) -> str:
        """For the log: what is on, where, and the seed."""
        parts = [f"every queue: {self.default.describe()}"] if self.default.on else []
        parts += [
            f"queue {name.queue}: {edges.describe()}" for name, edges in self.per_queue.items()
        ]
        return f"{'; '.join(parts)} (seed {self.seed})"

    def get(self, queue: QueueName) -> QueueEdges | None:
        """The queue's rough edges, or None when all are off for it."""
        edges = self._queues.get(queue)
        if edges is None:
            config, _ = self.settings(queue)
            if not config.on:
                return None
            assert config.seed is not None
            edges = self._queues[queue] = QueueEdges(queue, config, config.seed)
        return edges

    def _changed(self, queue: QueueName | None) -> None:
        """Settings changed: rebuild the affected queues' state (a throttle that stays
        on keeps its level), and tell the listeners."""
        self.active = self.default.on or any(edges.on for edges in self.per_queue.values())
        for name in [n for n in self._queues if queue is None or n == queue]:
            old = self._queues.pop(name)
            new = self.get(name)
            if new is not None and new.config.throttle and old.config.throttle:
                new.level, new.streak = old.level, old.streak
        for listener in self._listeners:
            listener(queue)
