"""The Node `@google-cloud/tasks` client over insecure gRPC and over its REST fallback.

The tests install the Node packages themselves (`npm ci` in tests/node, once).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from google.cloud import tasks_v2

from emulator import Emulator
from emulator.core import errors

from support import PARENT, require_node

require_node()  # without Node, this module is skipped (one line saying so)


@pytest.fixture(scope="session")
def node_client(node_packages: Path) -> Path:
    return node_packages / "client.js"


def test_node_client_over_grpc_and_rest(
    node_client: Path, emu: Emulator, grpc_client: tasks_v2.CloudTasksClient
) -> None:
    grpc_host, grpc_port = emu.grpc_target.rsplit(":", 1)
    http_host, http_port = emu.emulator_host.rsplit(":", 1)
    result = subprocess.run(
        [
            shutil.which("node") or "node",
            str(node_client),
            grpc_host,
            grpc_port,
            http_host,
            http_port,
            PARENT,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    for mode in ("grpc", "rest"):
        outcome = seen[mode]
        queue_name = f"{PARENT}/queues/node-{mode}"
        assert outcome["queue"] == {"name": queue_name, "state": "RUNNING", "burst": 100}
        assert outcome["task"]["body"] == "from node"
        assert outcome["listed"] == [outcome["task"]["name"]]
        assert outcome["notFound"]["code"] == 5
        stored = grpc_client.get_task(
            request={"name": outcome["task"]["name"], "response_view": tasks_v2.Task.View.FULL}
        )
        assert stored.http_request.http_method == tasks_v2.HttpMethod.PUT
        assert stored.http_request.body == b"from node"
        assert grpc_client.get_queue(name=queue_name).state == tasks_v2.Queue.State.PAUSED
    assert seen["grpc"]["notFound"]["details"] == errors.QUEUE_NOT_FOUND
