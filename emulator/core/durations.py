"""Durations as text, both ways: the one syntax flags, variables and start-up files take,
and the one way every surface (errors, help, the dashboard, v2beta3 JSON) writes one."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h|d)?")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_COMPACT = ((86400, "d"), (3600, "h"), (60, "m"))


def parse_duration(text: str) -> timedelta:
    """'90' (seconds), '90s', '15m', '1h', '7d', '250ms', '5 s' -> timedelta: the one
    duration syntax of flags, variables and start-up queue files."""
    m = _DURATION.fullmatch(text.strip())
    if not m:
        raise ValueError(f"not a duration: {text!r} (examples: 90s, 15m, 1h, 7d)")
    return timedelta(seconds=float(m["value"]) * _UNITS[m["unit"] or "s"])


def format_duration(value: timedelta | float, *, compact: bool = False) -> str:
    """A duration as seconds the way proto3 JSON writes one: '3600s', '0.5s',
    '2678400s' (never an exponent), to the nanosecond. With `compact`, a whole number
    of days, hours or minutes is written in that unit ('1h', '7d'), as the flags take it."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if compact and seconds:
        for unit, suffix in _COMPACT:
            if seconds % unit == 0:
                return f"{seconds / unit:.0f}{suffix}"
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{seconds:.9f}".rstrip("0") + "s"
