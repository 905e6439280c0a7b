"""What the emulator and its delivery process say to each other over their socket.

A frame is a 4-byte big-endian length and a pickled list of messages; each side writes
at most one frame an event-loop turn (`Outbox`), however many requests or outcomes the
turn produced. A message is a tuple `(kind, key, payload)`:

- to the delivery process: SEND (key: the request's number, payload: the
  OutgoingRequest's fields and the route table, or None), CANCEL (key: a request's
  number);
- from it: READY (key: its process id), BEGUN (key: how many more requests it has put
  to work), OUTCOME (key: the request's number, payload: the Outcome's fields), LOG (key:
  a logging level, payload: the line).

Both ends are this package on the same interpreter, over a socket pair no one else
holds, so pickle is safe here; on tuples of plain values it costs about 0.5 µs a
request each way (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Callable
from dataclasses import fields
from operator import attrgetter
from typing import Any

from emulator.core.errors import Code
from emulator.dispatch.request import OutgoingRequest
from emulator.dispatch.sender import Outcome

SEND, CANCEL, READY, BEGUN, OUTCOME, LOG = range(6)

Message = tuple[int, int, Any]

_LENGTH = 4
# Every field of an OutgoingRequest, by name: a field added to it crosses as well.
_request_values = attrgetter(*(field.name for field in fields(OutgoingRequest)))
# An Outcome's fields but `at`, which only the emulator's own deadline sets.
_outcome_values = attrgetter("status", "retry_after", "error", "error_code", "body", "refused")


def request_values(request: OutgoingRequest) -> tuple[Any, ...]:
    values: tuple[Any, ...] = _request_values(request)
    return values


def request_from(values: tuple[Any, ...]) -> OutgoingRequest:
    return OutgoingRequest(*values)


def outcome_values(outcome: Outcome) -> tuple[Any, ...]:
    status, retry_after, error, code, body, refused = _outcome_values(outcome)
    return status, retry_after, error, int(code), body, refused


def outcome_from(values: tuple[Any, ...]) -> Outcome:
    status, retry_after, error, code, body, refused = values
    return Outcome(
        status=status,
        retry_after=retry_after,
        error=error,
        error_code=Code(code),
        body=body,
        refused=refused,
    )


class FrameReader:
    """Messages out of a stream of bytes, as whole frames arrive."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        buffer = self._buffer
        buffer += data
        messages: list[Message] = []
        start, size = 0, len(buffer)
        while size - start >= _LENGTH:
            end = start + _LENGTH + int.from_bytes(buffer[start : start + _LENGTH], "big")
            if end > size:
                break
            messages += pickle.loads(buffer[start + _LENGTH : end])
            start = end
        del buffer[:start]
        return messages


class Outbox:
    """Messages put during an event-loop turn, written as one frame at the next."""

    def __init__(self, write: Callable[[bytes], object]) -> None:
        self._write = write
        self._messages: list[Message] = []
        self._loop = asyncio.get_running_loop()

    def put(self, message: Message) -> None:
        if not self._messages:
            self._loop.call_soon(self.flush)
        self._messages.append(message)

    def flush(self) -> None:
        messages, self._messages = self._messages, []
        if messages:
            blob = pickle.dumps(messages, pickle.HIGHEST_PROTOCOL)
            self._write(len(blob).to_bytes(_LENGTH, "big") + blob)
