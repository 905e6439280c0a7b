"""Delivery: what the emulator sends to the tasks' targets, and when.

Every task is created with the real client and lands on a `Receiver` (a threaded stdlib
HTTP server); time moves with the emulator's virtual clock (`emu.advance`), and the
tests wait on events (`emu.wait_for_attempts`, `receiver.wait_for`), never on sleeps.

The RPC transport is not the subject here, so `client` is the gRPC client alone (the
API suites run every RPC rule over gRPC and REST).
"""

from __future__ import annotations

import pytest

from emulator import Emulator

from support import Client


@pytest.fixture
def client(emu: Emulator) -> Client:
    return emu.client()
