"""What every benchmark here shares: the emulator as users start it (its own process, from
the console script), a target that answers 200 in a process of its own, free ports, the
emulator's memory, and medians.

Benchmarks are scripts, not tests: they may poll and sleep, and print figures.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import re
import shlex
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
from typing import Any

import grpc
import requests
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import (
    CloudTasksGrpcAsyncIOTransport,
    CloudTasksGrpcTransport,
)

HERE = Path(__file__).resolve().parent
# The Go emulator (aertje/cloud-tasks-emulator v1.2.0), built beside the project's checkouts.
GO_PEER = HERE.parent.parent / "shared" / "peers" / "aertje-v1.2.0" / "cloud-tasks-emulator"
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


def create_tasks(target: str, queues: Sequence[str], task: dict[str, Any], total: int) -> None:
    """`total` CreateTask calls from a `CloudTasksAsyncClient` at `target`, 64 in flight,
    to `queues` in turn."""
    asyncio.run(_create_tasks(target, queues, task, total))


async def _create_tasks(
    target: str, queues: Sequence[str], task: dict[str, Any], total: int, width: int = 64
) -> None:
    channel = grpc.aio.insecure_channel(target)
    client = tasks_v2.CloudTasksAsyncClient(
        transport=CloudTasksGrpcAsyncIOTransport(channel=channel)
    )
    numbers = iter(range(total))

    async def worker() -> None:
        for number in numbers:
            await client.create_task(parent=queues[number % len(queues)], task=task)

    await asyncio.gather(*(worker() for _ in range(width)))
    await channel.close()


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
class Served:
    """A running server: where to reach it, its processes, and how long it took to answer
    its first ListQueues (seconds from the start of its processes)."""

    grpc_target: str
    http_url: str | None  # None: no REST
    processes: list[subprocess.Popen[bytes]]
    first_answer: float

    def rss_bytes(self) -> int:
        """Resident memory of its processes (Linux)."""
        total = 0
        for process in self.processes:
            status = Path(f"/proc/{process.pid}/status").read_text()
            match = re.search(r"VmRSS:\s+(\d+) kB", status)
            total += int(match[1]) * 1024 if match else 0
        return total

    def cpu_seconds(self) -> float:
        """User and system CPU time its processes have used (Linux)."""
        total = 0.0
        for process in self.processes:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def client(self) -> tasks_v2.CloudTasksClient:
        return grpc_client(self.grpc_target)


def wait_for_grpc(target: str, began: float, timeout: float = 60) -> float:
    """Seconds from `began` (perf_counter) to the first ListQueues answered at `target`."""
    options = [  # retry the connection at once, not after gRPC's one-second backoff
        ("grpc.initial_reconnect_backoff_ms", 5),
        ("grpc.min_reconnect_backoff_ms", 5),
        ("grpc.max_reconnect_backoff_ms", 10),
    ]
    parent = b"projects/bench/locations/us-central1"
    request = b"\n" + bytes([len(parent)]) + parent  # a ListQueuesRequest, serialized
    with grpc.insecure_channel(target, options=options) as channel:
        call = channel.unary_unary(
            "/google.cloud.tasks.v2.CloudTasks/ListQueues",
            request_serializer=lambda raw: raw,
            response_deserializer=lambda raw: raw,
        )
        end = began + timeout
        while True:
            try:
                call(request, timeout=1, wait_for_ready=True)
                return time.perf_counter() - began
            except grpc.RpcError:
                if time.perf_counter() > end:
                    raise


@dataclass
class Variant:
    """A server to measure, started afresh for every run, as its users start it:

    - "emulator": this checkout's `cloud-tasks-emulator` console script (with `flags`),
      or another checkout's sources (`src`);
    - "null": the do-nothing grpc.aio and aiohttp servers (bench/null_server.py), which
      answer canned messages; "null-bare": grpc.aio alone, no message types;
    - "peer": the old Python emulator (gcloud-tasks-emulator from PyPI), run by `python`,
      the interpreter of a virtual environment it is installed in (see `peer_python`);
    - "go": the Go emulator (aertje/cloud-tasks-emulator), the binary `go_binary`, run from
      a copy of its folder (it reads oidc.key and oidc.cert from its working directory).
    """

    name: str
    kind: str = "emulator"
    flags: list[str] = field(default_factory=list)
    src: str | None = None  # another checkout's sources, on PYTHONPATH
    python: str | None = None  # the peer's interpreter
    go_binary: str | None = None  # the Go peer's binary

    @property
    def has_rest(self) -> bool:
        return self.kind in ("emulator", "null")

    @contextlib.contextmanager
    def serve(self) -> Iterator[Served]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("CLOUD_TASKS_EMULATOR") and k != "PYTHONDONTWRITEBYTECODE"
        }
        grpc_port, http_port = free_port(), free_port()
        cwd = _go_folder(self.go_binary) if self.kind == "go" and self.go_binary else None
        commands = self._commands(grpc_port, http_port)
        began = time.perf_counter()
        processes = [
            subprocess.Popen(
                c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd
            )
            for c in commands
        ]
        try:
            first = wait_for_grpc(f"127.0.0.1:{grpc_port}", began)
            http = f"http://127.0.0.1:{http_port}" if self.has_rest else None
            if http is not None:
                _wait_for_http(http)
            yield Served(f"127.0.0.1:{grpc_port}", http, processes, first)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    def _commands(self, grpc_port: int, http_port: int) -> list[list[str]]:
        null = [sys.executable, str(HERE / "null_server.py")]
        if self.kind == "null":
            return [[*null, "grpc", str(grpc_port)], [*null, "rest", str(http_port)]]
        if self.kind == "null-bare":
            return [[*null, "grpc-bare", str(grpc_port)]]
        if self.kind == "go":
            assert self.go_binary is not None
            binary = Path(_go_folder(self.go_binary)) / Path(self.go_binary).name
            return [[str(binary), "-host", "127.0.0.1", "-port", str(grpc_port)]]
        if self.kind == "peer":
            assert self.python is not None
            return [
                [self.python, "-m", "gcloud_tasks_emulator", "start", "-p", str(grpc_port), "-q"]
            ]
        flags = [f.replace("{tmp}", tempfile.mkdtemp()) for f in self.flags]
        ports = ["--port", str(grpc_port), "--http-port", str(http_port)]
        return [[*self.launcher(), *ports, *flags]]

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


_GO_FOLDERS: dict[str, str] = {}


def _go_folder(binary: str) -> str:
    """A writable copy of the Go peer's folder (binary, oidc.key, oidc.cert), made once a
    run and removed at exit: the shared build has no write bits."""
    if binary not in _GO_FOLDERS:
        copy = Path(tempfile.mkdtemp(prefix="cloud-tasks-go-peer-")) / "peer"
        shutil.copytree(Path(binary).parent, copy)
        copy.chmod(0o755)
        _GO_FOLDERS[binary] = str(copy)
        atexit.register(shutil.rmtree, copy.parent, ignore_errors=True)
    return _GO_FOLDERS[binary]


def _wait_for_http(url: str, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while True:
        try:
            requests.get(url + "/healthz", timeout=5)
            return
        except requests.ConnectionError:
            if time.monotonic() > end:
                raise
            time.sleep(0.01)


def peer_python(directory: str = "/tmp/cloud-tasks-bench-peer") -> str:
    """An interpreter with the old Python emulator installed (gcloud-tasks-emulator from
    PyPI, with the older protobuf it pins), made once in `directory`."""
    python = Path(directory) / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", directory], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "gcloud-tasks-emulator==0.6.2"], check=True
        )
    return str(python)


def add_variant_arguments(parser: Any) -> None:
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=FLAGS",
        help="another emulator started with FLAGS ({tmp}: a new empty directory), e.g. "
        '"data-dir=--data-dir {tmp}"',
    )
    parser.add_argument(
        "--src", action="append", default=[], metavar="NAME=PATH", help="another checkout"
    )
    parser.add_argument(
        "--peer",
        action="store_true",
        help="also the old Python emulator (gcloud-tasks-emulator 0.6.2, installed from PyPI "
        "into a virtual environment of its own on first use)",
    )
    parser.add_argument(
        "--go-peer",
        metavar="PATH",
        default=None,
        help="the Go emulator's binary (aertje/cloud-tasks-emulator), run from a copy of its "
        f"folder; default {GO_PEER.relative_to(HERE.parent.parent)} beside the repository when "
        "present; '' leaves it out",
    )


def emulator_variants(args: Any) -> list[Variant]:
    """This checkout's emulator, the Go peer (unless absent or --go-peer ''), then what
    --variant, --src and --peer ask for."""
    variants = [Variant("emulator")]
    go = go_peer_binary(args.go_peer)
    if go is not None:
        variants.append(Variant(GO_NAME, kind="go", go_binary=go))
    for spec in args.variant:
        name, _, flags = spec.partition("=")
        variants.append(Variant(name, flags=shlex.split(flags)))
    for spec in args.src:
        name, _, path = spec.partition("=")
        variants.append(Variant(name, src=str(Path(path).resolve())))
    if args.peer:
        variants.append(Variant("old Python peer", kind="peer", python=peer_python()))
    return variants


GO_NAME = "Go peer"


def go_peer_binary(asked: str | None) -> str | None:
    """The Go peer's binary: `asked` (it must exist), or the shared build when present
    (when absent, a one-line note says its column is skipped); None for --go-peer ''."""
    if asked == "":
        return None
    if asked is not None:
        if not Path(asked).is_file():
            raise SystemExit(f"--go-peer {asked}: no such file")
        return str(Path(asked).resolve())
    if GO_PEER.is_file():
        return str(GO_PEER)
    print(f"note: no Go peer at {GO_PEER} (--go-peer PATH): its column is skipped", flush=True)
    return None
