"""The delivery process (`--delivery-process`, the command line's default;
`Emulator(delivery_process=True)`): delivery's HTTP work in a process of its own.

Every other test in tests/delivery/ runs with it as well as without it; these are about
the process itself, found as the emulator's child whose command line names
`emulator.dispatch.sender_child`: started with the first task on the command line (never
by an emulator without tasks), gone when the emulator stops, and, when it dies, its attempts in
flight fail as UNAVAILABLE and are retried through a new one.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from emulator import Emulator
from emulator.core import errors

from support import APP_ENGINE_NOWHERE, Receiver, emulator_process, grpc_client_of, make_queue

MARK = b"emulator.dispatch.sender_child"


def delivery_processes(pid: int) -> set[int]:
    """The delivery processes among `pid`'s children (Linux: /proc; a thread or process
    gone meanwhile is skipped, and so is an exited one, whose command line is empty)."""
    found = set()
    for thread in Path(f"/proc/{pid}/task").iterdir():
        try:
            children = (thread / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if MARK in command:
                found.add(int(child))
    return found


@pytest.fixture
def own() -> Iterator[tuple[Emulator, set[int]]]:
    """An emulator of this test's own, with a delivery process; and the delivery processes
    of the session's emulators (in this same process), which are not its own."""
    others = delivery_processes(os.getpid())
    with Emulator(delivery_process=True, app_engine_host=APP_ENGINE_NOWHERE) as emulator:
        yield emulator, others


def test_the_emulator_asked_for_one_has_one_until_it_stops() -> None:
    others = delivery_processes(os.getpid())  # (the session's emulators' own)
    with Emulator(delivery_process=True, app_engine_host=APP_ENGINE_NOWHERE):
        assert len(delivery_processes(os.getpid()) - others) == 1
    assert delivery_processes(os.getpid()) - others == set()
    with Emulator(app_engine_host=APP_ENGINE_NOWHERE):  # the in-process default
        assert delivery_processes(os.getpid()) - others == set()


def test_a_dead_delivery_process_fails_its_attempts_as_unavailable_and_another_starts(
    own: tuple[Emulator, set[int]], receiver: Receiver
) -> None:
    emu, others = own
    client = emu.client()
    queue = make_queue(client, "dies", retry_config={"min_backoff": {"seconds": 10}})
    receiver.hold()
    client.create_task(parent=queue.name, task={"http_request": {"url": f"{receiver.url}/a"}})
    receiver.wait_for(1)  # in flight, in the delivery process
    (child,) = delivery_processes(os.getpid()) - others
    os.kill(child, signal.SIGKILL)
    (failed,) = emu.wait_for_attempts(1)
    assert failed.status is None
    assert failed.error == "the delivery process exited"
    assert failed.result == "retried"
    task = client.get_task(name=f"{queue.name}/tasks/{failed.task}")
    assert task.last_attempt.response_status.code == errors.Code.UNAVAILABLE
    receiver.release()
    emu.advance(10)  # the retry, one backoff later
    _, retried = emu.wait_for_attempts(2)
    assert retried.status == 200
    assert retried.attempt == 2
    (second,) = delivery_processes(os.getpid()) - others  # started by the retry
    assert second != child


@pytest.mark.parametrize("flags", [(), ("--no-delivery-process",)])
def test_the_command_line_starts_one_with_its_first_task(
    flags: tuple[str, ...], tmp_path: Path, receiver: Receiver
) -> None:
    with emulator_process(tmp_path, *flags) as (process, grpc_target, http_url):
        channel, client = grpc_client_of(grpc_target)
        queue = make_queue(client, "first")
        assert delivery_processes(process.pid) == set()  # an emulator without tasks has none
        client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
        client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
        channel.close()
        attempts = requests.get(
            f"{http_url}/_emulator/attempts", params={"min_count": 2}, timeout=60
        ).json()["attempts"]
        assert [a["status"] for a in attempts] == [200, 200]
        assert len(delivery_processes(process.pid)) == (0 if flags else 1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
