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

from emulator import Emulator
from emulator.cli import OPTIONS, parse_settings

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


def _help(*args: str) -> str:
    """The help a user sees in an 80-column terminal."""
    return subprocess.run(
        [sys.executable, "-m", "emulator", *args, "--help"],
        capture_output=True,
        text=True,
        env=_env(COLUMNS="80"),
        check=True,
        timeout=30,
    ).stdout


def _flags(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", text))


def test_env_init_help_is_its_own() -> None:
    own, server = _help("env-init"), _help()
    assert own.startswith("usage: cloud-tasks-emulator env-init ")
    assert _flags(own) == {
        "--help",
        "--gcloud",
        "--credentials",
        "--terraform",
        "--host",
        "--http-port",
        "--default-project",
    }
    # The variables it reads are the emulator's own: one shell's settings, one address.
    for variable in ("LISTEN_HOST", "HTTP_PORT", "DEFAULT_PROJECT"):
        assert f"CLOUD_TASKS_EMULATOR_{variable})" in own
    assert "--gcloud" not in server.split("\n\n")[0]  # not in the usage of the server
    assert "cloud-tasks-emulator env-init --help" in server  # the main help points there


@pytest.mark.parametrize("command", [[], ["env-init"]], ids=["serve", "env-init"])
def test_help_has_no_empty_default_and_breaks_lines_between_words(command: list[str]) -> None:
    out = _help(*command)
    assert "(default: ;" not in out
    assert "default: )" not in out
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    # Broken only at spaces: no line ends inside a hyphenated word, every variable whole.
    assert [line for line in lines if line.endswith("-")] == []
    variables = {o.env for o in OPTIONS if o.flag in _flags(out)}
    assert variables
    assert all(re.search(rf"\b{variable}\b", out) for variable in variables)


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


@pytest.mark.parametrize(
    ("flag", "kind", "group"), [("--port", "gRPC", 1), ("--http-port", "HTTP", 2)]
)
def test_a_taken_port_is_one_clear_line(flag: str, kind: str, group: int) -> None:
    with emulator("--port", "0", "--http-port", "0") as (_, line):
        match = READY.search(line)
        assert match, line
        port = match[group].rsplit(":", 1)[1]
        other = "--http-port" if flag == "--port" else "--port"
        result = subprocess.run(
            [sys.executable, "-m", "emulator", flag, port, other, "0"],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=30,
            check=False,
        )
    assert result.returncode == 1
    # Only ours: no line of gRPC's C core ("E0000 ... add_port.cc] Failed to add port"),
    # no log line of a start that is abandoned.
    assert result.stderr.splitlines() == [
        f"cloud-tasks-emulator: cannot listen for {kind} on 127.0.0.1:{port}: the port is "
        f"taken (by another emulator?); choose another with {flag}, or 0 for a free one"
    ]


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


def test_unknown_and_portless_variables_are_warned_about() -> None:
    env = _env(
        CLOUD_TASKS_EMULATOR_HOST="127.0.0.1",  # the old listen-address meaning, no port
        CLOUD_TASKS_EMULATOR_PORT="0",  # named after the flag --port
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


def _env_init(*args: str, **env: str) -> dict[str, str]:
    out = subprocess.run(
        [Path(sys.executable).with_name("cloud-tasks-emulator"), "env-init", *args],
        capture_output=True,
        text=True,
        env=_env(**env),
        check=True,
        timeout=30,
    ).stdout
    lines = [line.removeprefix("export ").partition("=") for line in out.splitlines()]
    return {name: value for name, _, value in lines}


def test_one_default_project_serves_and_is_gcloud_s() -> None:
    with emulator("--port", "0", "--http-port", "0", "--queue", "jobs") as (_, line):
        match = READY.search(line)
        assert match, line
        queues = _client(match[1]).list_queues(
            parent="projects/local-project/locations/us-central1"
        )
        assert [q.name.rsplit("/", 1)[1] for q in queues] == ["jobs"]
    assert _env_init("--gcloud")["CLOUDSDK_CORE_PROJECT"] == "local-project"
    assert Emulator().parent == "projects/local-project/locations/us-central1"


def test_env_init_takes_the_project_the_way_the_emulator_does() -> None:
    project = "CLOUD_TASKS_EMULATOR_DEFAULT_PROJECT"
    assert _env_init("--gcloud", **{project: "shop"})["CLOUDSDK_CORE_PROJECT"] == "shop"
    flagged = _env_init("--gcloud", "--default-project", "blog", **{project: "shop"})
    assert flagged["CLOUDSDK_CORE_PROJECT"] == "blog"
    assert "CLOUDSDK_CORE_PROJECT" not in _env_init(**{project: "shop"})  # only with --gcloud


def test_env_init_refuses_a_flag_of_the_server() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "env-init", "--log-level", "debug"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "unrecognized arguments: --log-level debug" in result.stderr


def test_the_command_line_loads_no_client_package() -> None:
    # The message types alone: the clients, transports and api-core cost ~0.3 s at start.
    code = (
        "import sys; from emulator.service import message_types; "
        "message_types.load_message_types(); "
        "import emulator.compose; emulator.compose.load_http_side(); "
        "from emulator.service import pb; assert pb.Task.DESCRIPTOR.full_name == "
        "'google.cloud.tasks.v2.Task'; "
        "print(sorted(m for m in sys.modules if '.services' in m or 'api_core' in m))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stdout


@pytest.mark.parametrize(
    ("argv", "env", "on"),
    [
        ([], {}, True),  # the command line's default
        (["--no-delivery-process"], {}, False),
        ([], {"CLOUD_TASKS_EMULATOR_DELIVERY_PROCESS": "false"}, False),
        ([], {"CLOUD_TASKS_EMULATOR_DELIVERY_PROCESS": " 1 "}, True),
        (["--delivery-process"], {"CLOUD_TASKS_EMULATOR_DELIVERY_PROCESS": "no"}, True),
        (["--no-delivery-process"], {"CLOUD_TASKS_EMULATOR_DELIVERY_PROCESS": "yes"}, False),
    ],
)
def test_the_delivery_process_is_on_unless_switched_off(
    argv: list[str], env: dict[str, str], on: bool
) -> None:
    assert parse_settings(argv, env).delivery_process is on


def test_a_delivery_process_variable_that_is_not_a_switch_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        parse_settings([], {"CLOUD_TASKS_EMULATOR_DELIVERY_PROCESS": "sometimes"})
    assert "CLOUD_TASKS_EMULATOR_DELIVERY_PROCESS: not true or false" in capsys.readouterr().err
