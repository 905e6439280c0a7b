"""Each attempt keeps the first bytes of the target's answer (at most 1 KiB), and shows
them wherever attempts are shown: `emulator.Attempt`, /_emulator/attempts (base64, as the
request's body) and the EmulatorControl gRPC service. The history stays bounded: its
number of attempts, and the answer's bytes each one keeps."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import grpc
import pytest
import requests
from answering import Answering, answering

from emulator import Emulator, control_pb2

from support import PARENT, queue_path

KIB = 1024
# 2 KiB, every 4 bytes different: a slice at any other place than 1,024 shows.
TWO_KIB = b"".join(f"{i:04d}".encode() for i in range(512))


@pytest.fixture
def target() -> Iterator[Answering]:
    with answering() as server:
        yield server


def _deliver(emu: Emulator, url: str, queue_id: str = "answers") -> None:
    client = emu.client()
    queue = client.create_queue(parent=PARENT, queue={"name": queue_path(queue_id)})
    client.create_task(parent=queue.name, task={"http_request": {"url": url}})


def test_an_attempt_keeps_the_first_kib_of_the_answer_everywhere(
    emu: Emulator, target: Answering
) -> None:
    target.status, target.body = 503, TWO_KIB
    _deliver(emu, target.url)
    (attempt,) = emu.wait_for_attempts(1)
    assert attempt.status == 503
    assert attempt.response_body == TWO_KIB[:KIB]

    listed = requests.get(f"{emu.http_url}/_emulator/attempts", timeout=10).json()
    (shown,) = listed["attempts"]
    assert base64.b64decode(shown["response_body"]) == TWO_KIB[:KIB]

    with grpc.insecure_channel(emu.grpc_target) as channel:
        list_attempts = channel.unary_unary(
            f"/{control_pb2.SERVICE}/ListAttempts",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=vars(control_pb2)["ListAttemptsResponse"].FromString,
        )
        (message,) = list_attempts(vars(control_pb2)["ListAttemptsRequest"]()).attempts
    assert message.response_body == TWO_KIB[:KIB]


@pytest.mark.parametrize("size", [0, 5, KIB, 200 * KIB])  # 200 KiB: past what is read
def test_a_short_answer_is_kept_whole_and_a_long_one_cut(
    emu: Emulator, target: Answering, size: int
) -> None:
    target.body = (TWO_KIB * 100)[:size]
    _deliver(emu, target.url)
    (attempt,) = emu.wait_for_attempts(1)
    assert attempt.status == 200
    assert attempt.response_body == target.body[:KIB]


def test_an_attempt_without_an_answer_keeps_no_bytes(emu: Emulator, target: Answering) -> None:
    url = target.url
    target.stop()  # nothing listens there any more
    _deliver(emu, url)
    (attempt,) = emu.wait_for_attempts(1)
    assert attempt.status is None
    assert attempt.error
    assert attempt.response_body == b""


def test_the_history_stays_bounded_with_the_answers(target: Answering) -> None:
    target.body = TWO_KIB
    with Emulator(attempt_history=3) as emu:
        client = emu.client()
        queue = client.create_queue(parent=emu.parent, queue={"name": emu.queue_name("many")})
        for _ in range(10):
            client.create_task(parent=queue.name, task={"http_request": {"url": target.url}})
        emu.wait_until_idle()
        kept = emu.attempts()
    # At most 3 attempts, each with at most 1 KiB of its answer: the bound is
    # --attempt-history x (request + 1 KiB), whatever the handlers answer.
    assert len(kept) == 3
    assert [a.response_body for a in kept] == [TWO_KIB[:KIB]] * 3
