"""Production's rough edges, on demand: what they are, as a frozen value, and their text.

Off unless switched on (docs/production-parity.md): a fraction of successful deliveries made
once more (the docs' "duplicate execution"), tasks that are due together dispatched in a
shuffled order ("execution order": none is guaranteed), a dispatch delay before each
attempt, and queues slowed by 429/503 answers ("system throttling"). A seed makes every
draw repeatable. The flags, the start-up file, the control API and `Emulator` all build
the same `RoughEdges`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from emulator.core.durations import format_duration, parse_duration

MAX_LATENCY = timedelta(hours=1)
MAX_SEED = 2**63 - 1  # an int64 in the control service's message
KEYS = ("duplicates", "shuffle", "latency", "throttle", "seed")


@dataclass(frozen=True)
class RoughEdges:
    """`duplicates`: the fraction (0 to 1) of successful deliveries delivered once more;
    `shuffle`: tasks due together go out in a seeded random order; `latency`: a delay
    range (min, max) drawn before each attempt; `throttle`: 429/503 answers slow the
    queue down; `seed`: the draws' seed (None: the emulator's, random unless given)."""

    duplicates: float = 0.0
    shuffle: bool = False
    latency: tuple[timedelta, timedelta] | None = None
    throttle: bool = False
    seed: int | None = None

    def __post_init__(self) -> None:
        duplicates = self.duplicates
        if isinstance(duplicates, bool) or not isinstance(duplicates, int | float):
            raise ValueError(f"duplicates: not a fraction from 0 to 1: {duplicates!r}")
        if not (math.isfinite(duplicates) and 0 <= duplicates <= 1):
            raise ValueError(f"duplicates: not a fraction from 0 to 1: {duplicates!r}")
        object.__setattr__(self, "duplicates", float(duplicates))
        if self.latency is not None:
            if not (
                isinstance(self.latency, tuple)
                and len(self.latency) == 2
                and all(isinstance(value, timedelta) for value in self.latency)
            ):
                raise ValueError(f"latency: not a (min, max) pair of timedeltas: {self.latency!r}")
            low, high = self.latency
            if not timedelta(0) <= low <= high <= MAX_LATENCY:
                raise ValueError(
                    "latency: needs 0 <= min <= max <= "
                    f"{format_duration(MAX_LATENCY, compact=True)}, "
                    f"got {_latency_text(self.latency)}"
                )
            if not high:
                object.__setattr__(self, "latency", None)
        seed = self.seed
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED
        ):
            raise ValueError(f"seed: not a whole number from 0 to 2^63-1: {seed!r}")

    @property
    def on(self) -> bool:
        """Whether any rough edge is switched on (the seed alone switches none)."""
        return bool(self.duplicates or self.shuffle or self.latency or self.throttle)

    def describe(self) -> str:
        """One line for the log: `duplicates=0.01 shuffle latency=50ms-2s throttle`."""
        parts = [f"duplicates={self.duplicates:g}"] if self.duplicates else []
        parts += ["shuffle"] if self.shuffle else []
        parts += [f"latency={_latency_text(self.latency)}"] if self.latency else []
        parts += ["throttle"] if self.throttle else []
        return " ".join(parts) or "off"

    def to_json(self) -> dict[str, Any]:
        """As the start-up file and the HTTP control endpoint write it."""
        return {
            "duplicates": self.duplicates,
            "shuffle": self.shuffle,
            "latency": _latency_text(self.latency) if self.latency else None,
            "throttle": self.throttle,
            "seed": self.seed,
        }

    def over(self, base: RoughEdges) -> RoughEdges:
        """These settings over `base`, field by field: a field left at its default here
        keeps `base`'s value (the flags over the start-up file's)."""
        default = RoughEdges()
        fields = {key: getattr(self, key) for key in KEYS}
        return RoughEdges(
            **{
                key: value if value != getattr(default, key) else getattr(base, key)
                for key, value in fields.items()
            }
        )


@dataclass(frozen=True)
class RoughEdgesState:
    """What applies to a queue (or the whole emulator): the settings in force, their seed
    filled in; whether the queue has its own; a throttled queue's current rate."""

    rough_edges: RoughEdges
    own: bool = False
    enforced_rate: float | None = None


def _latency_text(latency: tuple[timedelta, timedelta] | None) -> str:
    if latency is None:
        return "0s"
    low, high = (format_duration(value) for value in latency)
    return low if low == high else f"{low}-{high}"


# -- text: flags, variables, the start-up file, the HTTP control endpoint -----------------


def parse_fraction(text: str) -> float:
    """'0.01' or '1%' -> 0.01 (from 0 to 1)."""
    value = text.strip()
    scale = 100.0 if value.endswith("%") else 1.0
    try:
        fraction = float(value.removesuffix("%")) / scale
    except ValueError:
        raise ValueError(f"not a fraction from 0 to 1: {text} (e.g. 0.01 or 1%)") from None
    if not (math.isfinite(fraction) and 0 <= fraction <= 1):
        raise ValueError(f"not a fraction from 0 to 1: {text} (e.g. 0.01 or 1%)")
    return fraction


def parse_latency(text: str) -> tuple[timedelta, timedelta] | None:
    """'50ms-2s' (a range), '1s' (always that), '0' (none) -> (min, max) or None."""
    low_text, dash, high_text = text.strip().partition("-")
    try:
        low = parse_duration(low_text)
        high = parse_duration(high_text) if dash else low
    except ValueError:
        raise ValueError(f"not a latency range: {text} (e.g. 50ms-2s, or 1s)") from None
    if low > high:
        raise ValueError(f"not a latency range: {text} (the minimum is above the maximum)")
    if high > MAX_LATENCY:
        raise ValueError(f"not a latency range: {text} (at most 1h)")
    return (low, high) if high else None


def parse_seed(text: str) -> int:
    value = text.strip()
    if not value.isdigit() or int(value) > MAX_SEED:
        raise ValueError(f"not a seed: {text} (a whole number from 0 to 2^63-1)")
    return int(value)


def from_mapping(raw: Mapping[str, Any], where: str = "rough_edges") -> RoughEdges:
    """`{duplicates: 0.01, shuffle: true, latency: 50ms-2s, throttle: true, seed: 42}`
    (every key optional) as the start-up file and the HTTP control endpoint write it;
    ValueError names the key."""
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown keys {', '.join(unknown)} (known: {', '.join(KEYS)})")
    fields: dict[str, Any] = {}
    for key in ("shuffle", "throttle"):
        value = raw.get(key, False)
        if not isinstance(value, bool):
            raise ValueError(f"{where}.{key}: not true or false: {value!r}")
        fields[key] = value
    duplicates, latency, seed = raw.get("duplicates", 0), raw.get("latency"), raw.get("seed")
    if isinstance(duplicates, str):
        duplicates = _read(where, "duplicates", parse_fraction, duplicates)
    fields["duplicates"] = duplicates
    if latency is not None:
        fields["latency"] = _read(where, "latency", parse_latency, str(latency))
    fields["seed"] = _read(where, "seed", parse_seed, seed) if isinstance(seed, str) else seed
    try:
        return RoughEdges(**fields)
    except ValueError as error:  # its messages start with the key
        raise ValueError(f"{where}.{error}") from None


def _read(where: str, key: str, parse: Callable[[str], Any], text: str) -> Any:
    try:
        return parse(text)
    except ValueError as error:
        raise ValueError(f"{where}.{key}: {error}") from None
