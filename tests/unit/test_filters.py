"""`emulator.service.filters.parse`: the ListQueues filter, as a predicate over queues."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from emulator.core import errors
from emulator.service.filters import MAX_DEPTH, parse
from emulator.store.names import QueueName
from emulator.store.records import Queue, QueueState

QUEUES = {
    state: Queue(name=QueueName("p", "l", state.name.lower()), state=state)
    for state in (QueueState.RUNNING, QueueState.PAUSED, QueueState.DISABLED)
}
RUNNING, PAUSED, DISABLED = "RUNNING", "PAUSED", "DISABLED"


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("", {RUNNING, PAUSED, DISABLED}),
        ("   ", {RUNNING, PAUSED, DISABLED}),
        ("state: PAUSED", {PAUSED}),
        ("state:PAUSED", {PAUSED}),
        ("state=RUNNING", {RUNNING}),
        ("state = paused", {PAUSED}),  # state names in any case
        ('state:"DISABLED"', {DISABLED}),
        ("state != PAUSED", {RUNNING, DISABLED}),
        ("NOT state:RUNNING", {PAUSED, DISABLED}),
        ("-state:RUNNING", {PAUSED, DISABLED}),
        ("NOT NOT state:RUNNING", {RUNNING}),
        ("state:PAUSED OR state:RUNNING", {RUNNING, PAUSED}),
        ("state:PAUSED AND state:RUNNING", set()),
        ("state:PAUSED state:PAUSED", {PAUSED}),  # side by side means AND
        ("state!=PAUSED AND state!=DISABLED", {RUNNING}),
        ("(state:DISABLED OR state:paused)", {PAUSED, DISABLED}),
        ("NOT (state:DISABLED OR state:PAUSED)", {RUNNING}),
        # AND binds tighter than OR.
        ("state:RUNNING OR state:PAUSED AND state:DISABLED", {RUNNING}),
        ("(state:RUNNING OR state:PAUSED) AND state:PAUSED", {PAUSED}),
    ],
)
def test_filter_matches(text: str, matches: set[str]) -> None:
    predicate = parse(text)
    assert {state.name for state, queue in QUEUES.items() if predicate(queue)} == matches


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("colour: blue", 'unsupported field "colour"'),
        ("state: SLEEPING", 'unknown state "SLEEPING"'),
        ("state > RUNNING", 'unsupported operator ">"'),
        ("(state: PAUSED", "unexpected end"),
        ("(state: PAUSED state", "unexpected end"),
        ("state:", "unexpected end"),
        ("state:PAUSED)", 'unexpected ")"'),
        ("state:PAUSED OR", "unexpected end"),
        ("NOT", "unexpected end"),
    ],
)
def test_bad_filters_are_invalid_argument(text: str, why: str) -> None:
    with pytest.raises(errors.InvalidArgument) as e:
        parse(text)
    assert e.value.message.startswith(f'Invalid filter "{text}": ')
    assert why in e.value.message


@pytest.mark.parametrize(
    "nested",
    [
        lambda n: "(" * n + "state:PAUSED" + ")" * n,
        lambda n: "NOT " * n + "state:PAUSED",
        lambda n: "-" * n + "state:PAUSED",
        lambda n: "NOT (" * (n // 2) + "state:PAUSED" + ")" * (n // 2),
    ],
)
def test_nesting_is_bounded(nested: Callable[[int], str]) -> None:
    parse(nested(MAX_DEPTH))  # as deep as allowed: parsed
    with pytest.raises(errors.InvalidArgument) as e:
        parse(nested(MAX_DEPTH + 2))
    assert f"nest more than {MAX_DEPTH} levels deep" in e.value.message
