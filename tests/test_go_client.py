"""The Go client (`cloud.google.com/go/cloudtasks/apiv2`) as Debian packages it.

clients/go/enqueue (the docs' Go program) is built once in GOPATH mode against Debian's
Go packages (`golang-go`, `golang-google-cloud-dev`; no module proxy, nothing
downloaded), then run with only `CLOUD_TASKS_EMULATOR_HOST` pointing at the emulator:
once at the one HTTP port, once at the gRPC port. Each time it creates a queue and an
HTTP task, and the task is delivered.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from emulator import Emulator

from support import Receiver, require_tool

GO = require_tool(
    shutil.which("go"),
    "Go (for the Go client test)",
    "apt-get install golang-go golang-google-cloud-dev to run it",
)

PROGRAM = Path(__file__).resolve().parent.parent / "clients" / "go" / "enqueue"
DEBIAN_GOPATH = Path("/usr/share/gocode")  # where Debian's golang-*-dev packages put sources


@pytest.fixture(scope="module")
def enqueue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The program, compiled once (GOPATH mode, a build cache of its own)."""
    sources = DEBIAN_GOPATH / "src" / "cloud.google.com" / "go" / "cloudtasks" / "apiv2"
    require_tool(
        str(sources) if sources.is_dir() else None,
        "Debian's Go packages for Cloud Tasks (for the Go client test)",
        "apt-get install golang-google-cloud-dev to run it",
    )
    work = tmp_path_factory.mktemp("go")
    env = {
        **os.environ,
        "GO111MODULE": "off",  # GOPATH mode: imports come from Debian's packages
        "GOPROXY": "off",
        "GOFLAGS": "",
        "GOPATH": str(DEBIAN_GOPATH),
        "GOCACHE": str(work / "cache"),
    }
    binary = work / "enqueue"
    build = subprocess.run(
        [GO, "build", "-o", str(binary), "."],
        cwd=PROGRAM,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    return binary


@pytest.mark.parametrize("port", ["emulator_host", "grpc_target"], ids=["http-port", "grpc-port"])
def test_go_program_creates_a_queue_and_a_task_that_is_delivered(
    enqueue: Path, emu: Emulator, receiver: Receiver, port: str
) -> None:
    host = getattr(emu, port)
    queue = emu.queue_name("go-emails")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUD_TASKS_EMULATOR")}
    env["CLOUD_TASKS_EMULATOR_HOST"] = host
    result = subprocess.run(
        [str(enqueue), queue, f"{receiver.url}/send"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["queue"] == queue
    assert printed["task"].startswith(f"{queue}/tasks/")

    (attempt,) = emu.wait_for_attempts(1, task=printed["task"])
    assert (attempt.status, attempt.method, attempt.url) == (200, "POST", f"{receiver.url}/send")
    (request,) = receiver.wait_for(1)
    assert request["path"] == "/send"
    assert request["body"] == b'{"to": "a@example.com"}'
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["X-CloudTasks-QueueName"] == "go-emails"
    assert request["headers"]["X-CloudTasks-TaskName"] == printed["task"].rsplit("/", 1)[1]
