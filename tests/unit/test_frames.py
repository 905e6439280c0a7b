"""What the emulator and its delivery process say over their socket
(emulator/dispatch/frames.py): every field of a request and of an outcome crosses as it
is, frames cut anywhere are read whole, and a loop turn's messages make one frame."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from emulator.core.clock import yield_to_loop
from emulator.core.errors import Code
from emulator.dispatch import frames
from emulator.dispatch.request import OutgoingRequest
from emulator.dispatch.sender import Outcome

REQUEST = OutgoingRequest(
    method="PUT",
    url="http://127.0.0.1:1/x?y=z",
    headers={"X-CloudTasks-TaskName": "t", "x-mixed-Case": "é"},
    body=b"\x00\xffbody",
    timeout=timedelta(seconds=17, microseconds=5),
    follow_redirects=False,
)


def test_every_field_of_a_request_crosses() -> None:
    # Built generically: a field added to OutgoingRequest crosses too (no field is None
    # or default here, so a dropped one would show).
    crossed = frames.request_from(frames.request_values(REQUEST))
    assert crossed == REQUEST
    assert len(frames.request_values(REQUEST)) == len(dataclasses.fields(OutgoingRequest))


def test_an_outcome_crosses_but_its_time() -> None:
    outcome = Outcome(
        status=None,
        retry_after="5",
        error="cannot connect",
        error_code=Code.UNAVAILABLE,
        body=b"first bytes",
        refused="http://127.0.0.1:1",
    )
    crossed = frames.outcome_from(frames.outcome_values(outcome))
    assert crossed == outcome
    assert isinstance(crossed.error_code, Code)
    answered = frames.outcome_from(frames.outcome_values(Outcome(status=204)))
    assert answered.status == 204
    assert answered.code == Code.OK


def test_frames_cut_anywhere_are_read_whole() -> None:
    written: list[bytes] = []

    async def turn() -> None:
        outbox = frames.Outbox(written.append)
        for key in range(3):
            outbox.put((frames.SEND, key, frames.request_values(REQUEST)))
        await yield_to_loop()  # the next turn: one frame for the three
        outbox.put((frames.CANCEL, 1, None))
        await yield_to_loop()

    asyncio.run(turn())
    assert len(written) == 2
    stream = b"".join(written)
    for cut in range(len(stream) + 1):
        reader = frames.FrameReader()
        messages = reader.feed(stream[:cut]) + reader.feed(stream[cut:])
        assert [(kind, key) for kind, key, _ in messages] == [
            (frames.SEND, 0),
            (frames.SEND, 1),
            (frames.SEND, 2),
            (frames.CANCEL, 1),
        ]
    reader = frames.FrameReader()
    assert [m for byte in stream for m in reader.feed(bytes([byte]))][-1][:2] == (frames.CANCEL, 1)
