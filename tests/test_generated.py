"""The committed control-service code is what protos/ generates (no drift)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_generated_control_code_matches_the_proto() -> None:
    result = subprocess.run(
        [sys.executable, "protos/generate.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_control_messages_load_without_grpcio_tools() -> None:
    code = (
        "import sys; sys.modules['grpc_tools'] = None\n"
        "from emulator import control_pb2\n"
        "print(control_pb2.AdvanceRequest(by={'seconds': 5}).by.seconds, control_pb2.SERVICE)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["5", "cloud_tasks_emulator.v1.EmulatorControl"]
