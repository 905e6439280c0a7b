"""The command line as a user runs it: a real process, real signals, real clients."""

from __future__ import annotations

import base64
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import grpc
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.cloud import tasks_v2
from google.cloud.location import locations_pb2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from emulator.cli import OPTIONS

from support import PARENT, Receiver, queue_path

READY = re.compile(
    r"ready(?: \(listening on \S+\))?: gRPC (\S+), HTTP (\S+)\. "
    r"Connect: export CLOUD_TASKS_EMULATOR_HOST=(\S+) "
)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUD_TASKS_EMULATOR_")}
    return {**env, **extra}


def _read_line(proc: subprocess.Popen[str], timeout: float = 30) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise AssertionError("the emulator printed nothing")
    return proc.stdout.readline()


@contextmanager
def emulator(
    *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or _env(),
    )
    try:
        line = _read_line(proc)
        yield proc, line
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            assert stream is not None
            stream.close()


def _client(target: str) -> tasks_v2.CloudTasksClient:
    return tasks_v2.CloudTasksClient(
        transport=CloudTasksGrpcTransport(channel=grpc.insecure_channel(target))
    )


def test_help_explains_every_flag_and_its_variable() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "emulator", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for option in OPTIONS:
        assert option.flag in out
        assert option.env in out.replace("\n", "").replace(" ", "")


def test_console_script_is_installed() -> None:
    out = subprocess.run(
        [Path(sys.executable).with_name("cloud-tasks-emulator"), "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith("cloud-tasks-emulator ")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_ready_line_connects_a_client_and_signals_stop_it(sig: signal.Signals) -> None:
    with emulator("--port", "0", "--http-port", "0") as (proc, line):
        match = READY.search(line)
        assert match, line
        assert match[3] == match[2].removeprefix("http://")
        # The gRPC-only port and the one port of CLOUD_TASKS_EMULATOR_HOST both serve gRPC.
        queue = _client(match[1]).create_queue(parent=PARENT, queue={"name": queue_path("cli")})
        assert queue.state == tasks_v2.Queue.State.RUNNING
        assert _client(match[3]).get_queue(name=queue.name).name == queue.name
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0


def test_variables_configure_it_and_flags_win() -> None:
    env = _env(
        CLOUD_TASKS_EMULATOR_GRPC_PORT="0",
        CLOUD_TASKS_EMULATOR_HTTP_PORT="0",
        CLOUD_TASKS_EMULATOR_DEFAULT_LOCATION="from-env",
    )
    request = locations_pb2.ListLocationsRequest(name="projects/p")
    with emulator(env=env) as (_, line):
        match = READY.search(line)
        assert match, line
        locations = _client(match[1]).list_locations(request=request).locations
        assert [loc.location_id for loc in locations] == ["from-env"]
    with emulator("--default-location", "from-flag", env=env) as (_, line):
        match = READY.search(line)
        assert match, line
        locations = _client(match[1]).list_locations(request=request).locations
        assert [loc.location_id for loc in locations] == ["from-flag"]


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ([], {"CLOUD_TASKS_EMULATOR_GRPC_PORT": "eighty"}, "CLOUD_TASKS_EMULATOR_GRPC_PORT"),
        ([], {"CLOUD_TASKS_EMULATOR_HOST": "https://localhost:8124"}, "not TLS"),
        ([], {"CLOUD_TASKS_EMULATOR_HOST": "localhost:port"}, "is not host:port"),
        (["--firebase-function-url", "http://f/{function}"], {}, "not a function URL template"),
        (["--port", "70000"], {}, "not a port"),
        (["--task-tombstone-ttl", "soon"], {}, "not a duration"),
        (["--app-engine-host", "localhost:8080"], {}, "not an http:// or https:// URL"),
        ([], {"CLOUD_TASKS_EMULATOR_LOG_LEVEL": "chatty"}, "not a log level"),
        (["--log-format", "xml"], {}, "not a log format"),
    ],
)
def test_bad_settings_exit_with_a_clear_message(
    args: list[str], env: dict[str, str], message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "emulator", *args],
        capture_output=True,
        text=True,
        env=_env(**env),
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr


def test_json_logs_carry_the_attempt_fields_and_no_secret(receiver: Receiver) -> None:
    receiver.responses = [503]  # then 200
    env = _env(CLOUD_TASKS_EMULATOR_LOG_FORMAT="json")
    with emulator("--port", "0", "--http-port", "0", env=env) as (proc, line):
        match = READY.search(line)
        assert match, line
        client = _client(match[1])
        queue = client.create_queue(
            parent=PARENT,
            queue={"name": queue_path("logged")},  # the retry follows 0.1 s later
        )
        client.create_task(
            parent=queue.name,
            task={
                "name": f"{queue.name}/tasks/t1",
                "http_request": {
                    "url": receiver.url,
                    "body": b"the-secret-body",
                    "headers": {"Authorization": "Bearer caller-secret"},
                },
            },
        )
        receiver.wait_for(2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None
        logged = proc.stderr.read()
    entries = [json.loads(text) for text in logged.splitlines()]  # every line is JSON
    attempts = [e for e in entries if e.get("task") == "t1"]
    assert [(e["attempt"], e["status"], e["result"]) for e in attempts] == [
        (1, 503, "retried"),
        (2, 200, "succeeded"),
    ]
    first = attempts[0]
    assert first["queue"] == queue.name
    assert first["level"] == "INFO"
    assert datetime.fromisoformat(first["time"]).tzinfo is not None
    assert first["latency_ms"] >= 0
    assert datetime.fromisoformat(first["next_schedule_time"]) > datetime.fromisoformat(
        first["time"]
    ) - timedelta(seconds=5)
    assert attempts[1]["next_schedule_time"] is None
    assert "the-secret-body" not in logged
    assert "caller-secret" not in logged


def test_a_taken_port_is_a_clear_error() -> None:
    with emulator("--port", "0", "--http-port", "0") as (_, line):
        match = READY.search(line)
        assert match, line
        port = match[1].rsplit(":", 1)[1]
        result = subprocess.run(
            [sys.executable, "-m", "emulator", "--port", port, "--http-port", "0"],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=30,
            check=False,
        )
    assert result.returncode == 1
    assert f"cannot listen for gRPC on 127.0.0.1:{port}" in result.stderr


def test_oidc_key_file_signs_the_tokens(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = tmp_path / "key.pem"
    path.write_bytes(pem)
    with emulator("--port", "0", "--http-port", "0", "--oidc-key-file", str(path)) as (proc, line):
        match = READY.search(line)
        assert match, line
        jwks = requests.get(f"{match[2]}/.well-known/jwks.json", timeout=10).json()
        (jwk,) = jwks["keys"]
        n = int.from_bytes(base64.urlsafe_b64decode(jwk["n"] + "=" * (-len(jwk["n"]) % 4)), "big")
        assert n == key.public_key().public_numbers().n
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None
        assert "PRIVATE KEY" not in proc.stderr.read()


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read the OIDC key file"), (b"not a key", "is not a PEM RSA private key")],
)
def test_a_bad_oidc_key_file_stops_the_start(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "key.pem"
    if content is not None:
        path.write_bytes(content)
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "--port", "0", "--http-port", "0"],
        capture_output=True,
        text=True,
        env=_env(CLOUD_TASKS_EMULATOR_OIDC_KEY_FILE=str(path)),
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert message in result.stderr


def _healthcheck(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emulator", "--healthcheck", *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=30,
        check=False,
    )


def test_healthcheck_mode_asks_the_http_port() -> None:
    with emulator("--port", "0", "--http-port", "0") as (_, line):
        match = READY.search(line)
        assert match, line
        http_port = match[2].rsplit(":", 1)[1]
        healthy = _healthcheck("--http-port", http_port)
        assert (healthy.returncode, healthy.stderr) == (0, "")
    down = _healthcheck("--http-port", http_port)
    assert down.returncode == 1
    assert f"unhealthy: http://127.0.0.1:{http_port}/healthz: " in down.stderr
    assert "Connection refused" in down.stderr


def test_healthcheck_mode_reaches_an_emulator_on_ipv6_loopback() -> None:
    with emulator("--host", "::1", "--port", "0", "--http-port", "0") as (_, line):
        match = READY.search(line)
        assert match, line
        http_port = match[2].rsplit(":", 1)[1]
        healthy = _healthcheck("--host", "::1", "--http-port", http_port)
        assert (healthy.returncode, healthy.stderr) == (0, "")


def test_healthcheck_mode_says_what_answered_instead_of_the_emulator() -> None:
    receiver = Receiver()  # an HTTP server that is not the emulator: 404 on /healthz
    receiver.status = 404
    try:
        down = _healthcheck("--http-port", str(receiver.port))
    finally:
        receiver.close()
    assert down.returncode == 1
    assert down.stderr.strip().endswith("/healthz: HTTP 404"), down.stderr


def test_healthcheck_mode_asks_grpc_health_without_an_http_port() -> None:
    with emulator("--port", "0", "--http-port", "0") as (_, line):
        match = READY.search(line)
        assert match, line
        port = match[1].rsplit(":", 1)[1]
        healthy = _healthcheck("--port", port, "--http-port", "0")
        assert (healthy.returncode, healthy.stderr) == (0, "")
    down = _healthcheck("--port", port, "--http-port", "0")
    assert down.returncode == 1
    assert "unhealthy: gRPC 127.0.0.1:" in down.stderr
    assert down.stderr.strip().endswith("UNAVAILABLE"), down.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_emulator_host_variable_says_where_it_listens() -> None:
    port = _free_port()
    host = f"127.0.0.1:{port}"
    env = _env(CLOUD_TASKS_EMULATOR_HOST=host, CLOUD_TASKS_EMULATOR_GRPC_PORT="0")
    with emulator(env=env) as (proc, line):
        match = READY.search(line)
        assert match, line
        assert match[2] == f"http://{host}"
        assert match[3] == host
        queue = _client(host).create_queue(parent=PARENT, queue={"name": queue_path("one")})
        assert requests.get(f"http://{host}/v2/{queue.name}", timeout=10).json()["name"] == (
            queue.name
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None
        assert "warning" not in proc.stderr.read()


def test_unknown_and_old_variables_are_warned_about() -> None:
    env = _env(
        CLOUD_TASKS_EMULATOR_HOST="127.0.0.1",  # the old listen-address meaning, no port
        CLOUD_TASKS_EMULATOR_PORT="0",  # the old name of GRPC_PORT
        CLOUD_TASKS_EMULATOR_GRPC_PORT="0",
        CLOUD_TASKS_EMULATOR_HTTP_PORT="0",
    )
    with emulator(env=env) as (proc, line):
        assert READY.search(line), line
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None
        errors = proc.stderr.read()
    assert "CLOUD_TASKS_EMULATOR_HOST=127.0.0.1 has no port" in errors
    assert "CLOUD_TASKS_EMULATOR_LISTEN_HOST" in errors
    assert (
        "ignoring the unknown variable CLOUD_TASKS_EMULATOR_PORT "
        "(did you mean CLOUD_TASKS_EMULATOR_GRPC_PORT?)"
    ) in errors


def test_the_command_line_loads_no_client_package() -> None:
    # The message types alone: the clients, transports and api-core cost ~0.3 s at start.
    code = (
        "import sys; from emulator.api import wire; wire.load_message_types(); "
        "import emulator.server, emulator.web; "
        "from emulator.api import pb; assert pb.Task.DESCRIPTOR.full_name == "
        "'google.cloud.tasks.v2.Task'; "
        "print(sorted(m for m in sys.modules if '.services' in m or 'api_core' in m))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stdout
