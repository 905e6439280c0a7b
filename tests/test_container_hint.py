"""Inside a container, 127.0.0.1 is the container itself: the first task to a loopback
address that is refused there makes the emulator log one line saying how a handler on
the host is reached (host.docker.internal, extra_hosts: host-gateway, --network host).

The process is the CLI, as a container runs it. CLOUD_TASKS_EMULATOR_IN_CONTAINER says
whether it runs in a container (these tests may themselves run in one, where the marker
file /.dockerenv would answer for them).
"""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest
import requests

from support import PARENT, emulator_process, grpc_client_of, queue_path

HINT = "is the container itself"


def _refused_port() -> int:
    """A port on 127.0.0.1 where nothing listens (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(in_container: str, urls: list[str], data_dir: Path, *flags: str) -> str:
    """Run the CLI, deliver a task to each URL three times (all refused), stop it; its
    log."""
    env = {"CLOUD_TASKS_EMULATOR_IN_CONTAINER": in_container}
    with emulator_process(data_dir, *flags, env=env) as (process, grpc_target, http_url):
        channel, client = grpc_client_of(grpc_target)
        queue = client.create_queue(
            parent=PARENT,
            queue={
                "name": queue_path("refused"),
                "retry_config": {"max_attempts": 3, "min_backoff": {"seconds": 1}},
            },
        )
        for url in urls:
            client.create_task(parent=queue.name, task={"http_request": {"url": url}})
        channel.close()
        attempts = len(urls) * 3
        control = f"{http_url}/_emulator"
        requests.post(f"{control}/advance", json={"seconds": 60}, timeout=60).raise_for_status()
        settled = requests.get(
            f"{control}/attempts", params={"min_count": attempts}, timeout=60
        ).json()["attempts"]
        assert len(settled) == attempts
        assert all(a["status"] is None and "cannot connect" in a["error"] for a in settled)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert process.stderr is not None
        return process.stderr.read()


@pytest.mark.parametrize(
    ("host", "flags"),
    [
        ("127.0.0.1", ()),
        ("localhost", ()),
        ("[::1]", ()),
        # The delivery process (the default) reports refusals; the emulator hints. Without
        # it, the same line, once.
        ("127.0.0.1", ("--no-delivery-process",)),
    ],
)
def test_a_refused_loopback_task_in_a_container_logs_one_hint(
    host: str, flags: tuple[str, ...], tmp_path: Path
) -> None:
    port = _refused_port()
    logged = _run(
        "1",
        [f"http://{host}:{port}/handler?secret=x", f"http://{host}:{port}/b"],
        tmp_path,
        *flags,
    )
    hints = [line for line in logged.splitlines() if HINT in line]
    assert len(hints) == 1, logged  # once, across six refused attempts
    (hint,) = hints
    assert "WARNING" in hint
    assert f"A task to http://{host}:{port} was refused" in hint
    assert f"http://host.docker.internal:{port}" in hint
    assert 'extra_hosts: ["host.docker.internal:host-gateway"]' in hint
    assert "--network host" in hint
    assert "docs/troubleshooting.md" in hint
    assert "secret" not in hint  # the URL's path and query are not logged
    assert "unknown variable" not in logged  # CLOUD_TASKS_EMULATOR_IN_CONTAINER is known


def test_no_hint_outside_a_container(tmp_path: Path) -> None:
    port = _refused_port()
    logged = _run("0", [f"http://127.0.0.1:{port}/handler"], tmp_path)
    assert HINT not in logged
