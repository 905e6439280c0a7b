"""What every benchmark here shares: the emulator as users start it (its own process, from
the console script), a target that answers 200 in a process of its own, free ports, the
emulator's memory, and medians.

Benchmarks are scripts, not tests: they may poll and sleep, and print figures.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import requests
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

HERE = Path(__file__).resolve().parent
READY = re.compile(r"ready.*?: gRPC (\S+), HTTP (\S+)\.")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def console_script() -> str:
    """The installed `cloud-tasks-emulator`, next to this interpreter."""
    beside = Path(sys.executable).with_name("cloud-tasks-emulator")
    return str(beside) if beside.exists() else shutil.which("cloud-tasks-emulator") or "false"


def grpc_client(target: str) -> tasks_v2.CloudTasksClient:
    """A CloudTasksClient on an insecure channel to `target` (host:port)."""
    channel = grpc.insecure_channel(target)
    return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))


@dataclass
class EmulatorProcess:
    process: subprocess.Popen[str]
    grpc_target: str
    http_url: str

    def client(self) -> tasks_v2.CloudTasksClient:
        return grpc_client(self.grpc_target)

    def rss_bytes(self) -> int:
        """Resident memory of the emulator process (Linux)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        return int(match[1]) * 1024 if match else 0

    def wait_until_idle(self, timeout: float = 600) -> None:
        response = requests.post(
            f"{self.http_url}/_emulator/wait-until-idle",
            json={"timeout": timeout},
            timeout=timeout + 10,
        )
        response.raise_for_status()


@contextlib.contextmanager
def emulator_process(*args: str, **env: str) -> Iterator[EmulatorProcess]:
    """`cloud-tasks-emulator ARGS` on free ports until the block ends (then SIGTERM)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CLOUD_TASKS_EMULATOR")}
    process = subprocess.Popen(
        [console_script(), "--port", "0", "--http-port", "0", "--log-level", "warning", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**clean, **env},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = READY.search(line)
        if not match:
            raise RuntimeError(f"the emulator did not start: {line!r}")
        yield EmulatorProcess(process, match[1], match[2])
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def target_process() -> Iterator[str]:
    """bench/target.py: an aiohttp server answering 200, in its own process; its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(HERE / "target.py"), str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()  # "ready"
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait()


def summary(values: Sequence[float], fmt: str = "{:.0f}") -> str:
    """`median (min–max)` of a few runs."""
    return (
        f"{fmt.format(statistics.median(values))} "
        f"({fmt.format(min(values))}–{fmt.format(max(values))})"
    )


def mib(value: float) -> str:
    return f"{value / 2**20:.1f} MiB"


def sleep(seconds: float) -> None:
    time.sleep(seconds)


@dataclass
class Variant:
    """A server to measure: the emulator (from the console script, with `flags`; or from
    another checkout's sources, `src`), or the do-nothing baselines (`null`)."""

    name: str
    flags: list[str] = field(default_factory=list)
    src: str | None = None  # another checkout's sources, on PYTHONPATH
    null: bool = False  # the do-nothing grpc.aio and aiohttp servers (bench/null_server.py)

    @contextlib.contextmanager
    def serve(self) -> Iterator[tuple[str, str]]:
        """Start it, each process afresh; yields (gRPC target, HTTP base URL)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUD_TASKS_EMULATOR")}
        grpc_port, http_port = free_port(), free_port()
        if self.null:
            commands = [
                [sys.executable, str(HERE / "null_server.py"), "grpc", str(grpc_port)],
                [sys.executable, str(HERE / "null_server.py"), "rest", str(http_port)],
            ]
        else:
            flags = [f.replace("{tmp}", tempfile.mkdtemp()) for f in self.flags]
            ports = ["--port", str(grpc_port), "--http-port", str(http_port)]
            commands = [[*self.launcher(), *ports, "--log-level", "warning", *flags]]
        processes = [
            subprocess.Popen(c, stdout=subprocess.PIPE, text=True, env=env) for c in commands
        ]
        try:
            for process in processes:
                assert process.stdout is not None
                line = process.stdout.readline()
                if "ready" not in line:
                    raise RuntimeError(f"{self.name} did not start: {line!r}")
            yield f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{http_port}"
        finally:
            for process in processes:
                process.terminate()
                process.wait()

    def launcher(self) -> list[str]:
        """The command that starts this emulator: the console script, as users start it;
        for another checkout, its sources before the installed (editable) package."""
        if not self.src:
            return [console_script()]
        code = (
            "import sys; sys.meta_path[:] = [f for f in sys.meta_path "
            f"if 'editable' not in type(f).__module__]; sys.path.insert(0, {self.src!r}); "
            "from emulator.cli import main; main()"
        )
        return [sys.executable, "-c", code]
