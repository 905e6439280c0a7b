"""The one duration syntax and the one way a duration is written (emulator.core.durations)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from emulator.core.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=0.1), "0.1s"),
        (timedelta(seconds=3600), "3600s"),
        (timedelta(days=31), "2678400s"),  # never an exponent ('2.6784e+06s')
        (timedelta(microseconds=1), "0.000001s"),
        (1.5, "1.5s"),
    ],
)
def test_a_duration_is_written_as_proto3_json_seconds(value: timedelta | float, text: str) -> None:
    assert format_duration(value) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(3600, "1h"), (86400 * 7, "7d"), (90, "90s"), (120, "2m"), (0.2, "0.2s"), (0, "0s")],
)
def test_compact_is_what_the_flags_take(seconds: float, text: str) -> None:
    assert format_duration(seconds, compact=True) == text
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "1x", "-1s", "1.s", "s"])
def test_a_bad_duration_says_what_it_takes(text: str) -> None:
    with pytest.raises(ValueError, match="examples: 90s, 15m, 1h, 7d"):
        parse_duration(text)
