"""Delivery: what the emulator sends to the tasks' targets, and when.

Every task is created with the real client and lands on a `Receiver` (a threaded stdlib
HTTP server); time moves with the emulator's virtual clock (`emu.advance`), and the
tests wait on events (`emu.wait_for_attempts`, `receiver.wait_for`), never on sleeps.

The RPC transport is not the subject here, so `client` is the gRPC client alone (the
API suites run every RPC rule over gRPC and REST). The sender is: every test runs twice,
with the HTTP work in the emulator's own process and in a delivery process (the command
line's default), since every rule must hold both ways.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from emulator import Emulator

from support import Client


@pytest.fixture(params=["in-process", "delivery-process"])
def delivery_process(request: pytest.FixtureRequest) -> bool:
    return bool(request.param == "delivery-process")


@pytest.fixture
def emu(request: pytest.FixtureRequest, delivery_process: bool) -> Emulator:
    """The session's emulator, or the session's emulator with a delivery process, reset
    for this test."""
    name = "delivery_process_emulator" if delivery_process else "cloud_tasks_emulator"
    emulator: Emulator = request.getfixturevalue(name)
    emulator.reset()
    return emulator


@pytest.fixture
def start_emulator(
    start_emulator: Callable[..., Emulator], delivery_process: bool
) -> Callable[..., Emulator]:
    """Dedicated emulators, with a delivery process when this test's run has one."""

    def start(**settings: Any) -> Emulator:
        settings.setdefault("delivery_process", delivery_process)
        return start_emulator(**settings)

    return start


@pytest.fixture
def client(emu: Emulator) -> Client:
    return emu.client()
