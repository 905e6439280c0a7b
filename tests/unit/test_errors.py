"""`emulator.core.errors`: messages stay short enough for gRPC's trailers."""

from __future__ import annotations

from emulator.core import errors


def test_a_message_quoting_huge_input_is_cut() -> None:
    error = errors.bad_task_id("x" * 100_000)
    assert len(error.message) == errors.MAX_MESSAGE
    assert error.message.startswith('Task ID "xxx')
    assert error.message.endswith("...")


def test_a_short_message_is_kept_whole() -> None:
    assert errors.NotFound(errors.QUEUE_NOT_FOUND).message == errors.QUEUE_NOT_FOUND
