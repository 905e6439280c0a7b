"""The `gcloud tasks` CLI (REST) against the emulator, configured only by environment.

Each command is a real gcloud process; assertions read its JSON output and check the
emulator's state through the gRPC client.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from google.cloud import tasks_v2

from emulator import Emulator

from support import Receiver, require_tool

PROJECT, LOCATION = "gcloud-project", "us-east1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"

Gcloud = Callable[..., Any]
GCLOUD = require_tool(
    shutil.which("gcloud"),
    "gcloud (for the gcloud CLI tests)",
    "install the Google Cloud CLI to run them",
)


def _env(url: str, config: Path) -> dict[str, str]:
    """Only the documented variables (the README's, and `env-init --gcloud`'s)."""
    return {
        **os.environ,
        "CLOUDSDK_CONFIG": str(config),
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDTASKS": url + "/",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_APPENGINE": url + "/",
        "CLOUDSDK_AUTH_DISABLE_CREDENTIALS": "true",
        "CLOUDSDK_CORE_PROJECT": PROJECT,
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
    }


@pytest.fixture
def gcloud(emu: Emulator, tmp_path: Path) -> Gcloud:
    env = _env(emu.http_url, tmp_path / "gcloud-config")

    def run(*args: str, fmt: str = "json") -> Any:
        command = [GCLOUD, *args, f"--location={LOCATION}", f"--format={fmt}"]
        result = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=120, check=False
        )
        assert result.returncode == 0, f"{' '.join(args)}: {result.stderr}"
        return json.loads(result.stdout) if fmt == "json" and result.stdout.strip() else None

    return run


def test_gcloud_queue_commands(gcloud: Gcloud, grpc_client: tasks_v2.CloudTasksClient) -> None:
    gcloud(
        "tasks", "queues", "create", "jobs", "--max-attempts=5", "--max-dispatches-per-second=20"
    )
    described = gcloud("tasks", "queues", "describe", "jobs")
    assert described["name"] == f"{PARENT}/queues/jobs"
    assert described["state"] == "RUNNING"
    assert described["retryConfig"]["maxAttempts"] == 5
    assert described["rateLimits"]["maxBurstSize"] == 20
    gcloud("tasks", "queues", "update", "jobs", "--max-concurrent-dispatches=7")
    queue = grpc_client.get_queue(name=f"{PARENT}/queues/jobs")
    assert queue.rate_limits.max_concurrent_dispatches == 7
    assert queue.rate_limits.max_dispatches_per_second == 20
    gcloud("tasks", "queues", "pause", "jobs")
    assert grpc_client.get_queue(name=queue.name).state == tasks_v2.Queue.State.PAUSED
    listed = gcloud("tasks", "queues", "list")
    assert [(q["name"], q["state"]) for q in listed] == [(queue.name, "PAUSED")]
    gcloud("tasks", "queues", "resume", "jobs")
    assert grpc_client.get_queue(name=queue.name).state == tasks_v2.Queue.State.RUNNING
    grpc_client.create_task(
        parent=queue.name, task={"http_request": {"url": "http://127.0.0.1:9/"}}
    )
    gcloud("tasks", "queues", "purge", "jobs")
    assert list(grpc_client.list_tasks(parent=queue.name)) == []
    gcloud("tasks", "queues", "delete", "jobs")
    assert list(grpc_client.list_queues(parent=PARENT)) == []


def test_gcloud_task_commands(
    gcloud: Gcloud, grpc_client: tasks_v2.CloudTasksClient, emu: Emulator, receiver: Receiver
) -> None:
    gcloud("tasks", "queues", "create", "work")
    gcloud("tasks", "queues", "pause", "work")
    gcloud(
        "tasks",
        "create-http-task",
        "t1",
        "--queue=work",
        f"--url={receiver.url}/hook",
        "--method=PUT",
        "--header=X-From:gcloud",
        "--body-content=hello",
    )
    task = grpc_client.get_task(
        request={"name": f"{PARENT}/queues/work/tasks/t1", "response_view": tasks_v2.Task.View.FULL}
    )
    assert task.http_request.http_method == tasks_v2.HttpMethod.PUT
    assert task.http_request.body == b"hello"
    assert task.http_request.headers["X-From"] == "gcloud"
    listed = gcloud("tasks", "list", "--queue=work")
    assert [t["name"] for t in listed] == [task.name]
    described = gcloud("tasks", "describe", "t1", "--queue=work")
    assert described["httpRequest"]["url"] == f"{receiver.url}/hook"
    gcloud("tasks", "create-http-task", "t2", "--queue=work", f"--url={receiver.url}/two")
    gcloud("tasks", "run", "t1", "--queue=work")
    (attempt,) = emu.wait_for_attempts(1)
    assert attempt.task == "t1"
    (request,) = receiver.requests
    assert request["path"] == "/hook"
    assert request["body"] == b"hello"
    gcloud("tasks", "delete", "t2", "--queue=work")
    assert list(grpc_client.list_tasks(parent=f"{PARENT}/queues/work")) == []


def test_gcloud_without_location_takes_the_default_location(tmp_path: Path) -> None:
    """gcloud asks ListLocations, then App Engine's apps.get; both are answered, so the
    command neither waits for Google (35 s before) nor needs --location."""
    with Emulator(project=PROJECT, default_location=LOCATION) as emulator:
        client = emulator.client()
        client.create_queue(parent=PARENT, queue={"name": f"{PARENT}/queues/found"})
        result = subprocess.run(
            [GCLOUD, "tasks", "queues", "list", "--format=json"],
            capture_output=True,
            text=True,
            env=_env(emulator.http_url, tmp_path / "gcloud-config"),
            timeout=20,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert [q["name"] for q in json.loads(result.stdout)] == [f"{PARENT}/queues/found"]
