"""The `gcloud tasks` CLI (REST) against the emulator, configured only by what
`cloud-tasks-emulator env-init --gcloud` prints, from an empty gcloud configuration.

Each command is a real gcloud process in an environment holding nothing but PATH, a fresh
HOME and CLOUDSDK_CONFIG (both empty directories) and the lines `env-init --gcloud`
exported through `eval`, as the docs tell users; assertions read gcloud's JSON output and
check the emulator's state through the gRPC client.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from google.cloud import tasks_v2

from emulator import Emulator

from support import Receiver, require_tool

Gcloud = Callable[..., Any]
GCLOUD = require_tool(
    shutil.which("gcloud"),
    "gcloud (for the gcloud CLI tests)",
    "install the Google Cloud CLI to run them",
)
CLI = str(Path(sys.executable).with_name("cloud-tasks-emulator"))


def _fresh_env(tmp_path: Path, emulator: Emulator, *env_init_args: str) -> dict[str, str]:
    """A shell with an empty gcloud configuration, after
    `eval "$(cloud-tasks-emulator env-init --gcloud ...)"`: its variables and nothing else."""
    home, config = tmp_path / "home", tmp_path / "gcloud-config"
    home.mkdir()
    config.mkdir()
    bare = {"PATH": os.environ["PATH"], "HOME": str(home), "CLOUDSDK_CONFIG": str(config)}
    port = emulator.http_url.rsplit(":", 1)[1]
    command = " ".join([CLI, "env-init", "--gcloud", "--http-port", port, *env_init_args])
    shell = subprocess.run(
        ["bash", "-c", f'set -e; eval "$({command})"; env -0'],
        capture_output=True,
        text=True,
        env=bare,
        timeout=30,
        check=True,
    )
    env = dict(item.partition("=")[::2] for item in shell.stdout.split("\0") if item)
    env.pop("_", None)
    env.pop("PWD", None)
    env.pop("SHLVL", None)
    return env


def _gcloud(env: dict[str, str], *args: str, fmt: str = "json", timeout: float = 120) -> Any:
    result = subprocess.run(
        [GCLOUD, *args, f"--format={fmt}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"{' '.join(args)}: {result.stderr}"
    return json.loads(result.stdout) if fmt == "json" and result.stdout.strip() else None


@pytest.fixture
def gcloud(emu: Emulator, tmp_path: Path) -> Gcloud:
    env = _fresh_env(tmp_path, emu)

    def run(*args: str, fmt: str = "json") -> Any:
        return _gcloud(env, *args, fmt=fmt)

    return run


def test_env_init_is_all_a_fresh_gcloud_needs(
    emu: Emulator, tmp_path: Path, grpc_client: tasks_v2.CloudTasksClient, receiver: Receiver
) -> None:
    env = _fresh_env(tmp_path, emu)
    # Only what env-init exported (besides the bare shell): no project set by hand.
    assert {name for name in env if name.startswith("CLOUDSDK_")} - {"CLOUDSDK_CONFIG"} == {
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDTASKS",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_APPENGINE",
        "CLOUDSDK_AUTH_DISABLE_CREDENTIALS",
        "CLOUDSDK_CORE_PROJECT",
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK",
        "CLOUDSDK_SURVEY_DISABLE_PROMPTS",
    }
    assert list(Path(env["CLOUDSDK_CONFIG"]).iterdir()) == []
    # No --location either: gcloud asks the emulator for its default location.
    _gcloud(env, "tasks", "queues", "create", "jobs")
    listed = _gcloud(env, "tasks", "queues", "list")
    assert [q["name"] for q in listed] == [emu.queue_name("jobs")]
    _gcloud(env, "tasks", "queues", "pause", "jobs")
    _gcloud(env, "tasks", "create-http-task", "t1", "--queue=jobs", f"--url={receiver.url}/x")
    task = grpc_client.get_task(name=f"{emu.queue_name('jobs')}/tasks/t1")
    assert task.http_request.url == f"{receiver.url}/x"


def test_gcloud_queue_commands(
    gcloud: Gcloud, grpc_client: tasks_v2.CloudTasksClient, emu: Emulator
) -> None:
    location = "--location=us-east1"  # another location than the emulator's default
    parent = f"projects/{emu.project}/locations/us-east1"
    gcloud(
        "tasks",
        "queues",
        "create",
        "jobs",
        location,
        "--max-attempts=5",
        "--max-dispatches-per-second=20",
    )
    described = gcloud("tasks", "queues", "describe", "jobs", location)
    assert described["name"] == f"{parent}/queues/jobs"
    assert described["state"] == "RUNNING"
    assert described["retryConfig"]["maxAttempts"] == 5
    assert described["rateLimits"]["maxBurstSize"] == 20
    gcloud("tasks", "queues", "update", "jobs", location, "--max-concurrent-dispatches=7")
    queue = grpc_client.get_queue(name=f"{parent}/queues/jobs")
    assert queue.rate_limits.max_concurrent_dispatches == 7
    assert queue.rate_limits.max_dispatches_per_second == 20
    gcloud("tasks", "queues", "pause", "jobs", location)
    assert grpc_client.get_queue(name=queue.name).state == tasks_v2.Queue.State.PAUSED
    listed = gcloud("tasks", "queues", "list", location)
    assert [(q["name"], q["state"]) for q in listed] == [(queue.name, "PAUSED")]
    gcloud("tasks", "queues", "resume", "jobs", location)
    assert grpc_client.get_queue(name=queue.name).state == tasks_v2.Queue.State.RUNNING
    grpc_client.create_task(
        parent=queue.name, task={"http_request": {"url": "http://127.0.0.1:9/"}}
    )
    gcloud("tasks", "queues", "purge", "jobs", location)
    assert list(grpc_client.list_tasks(parent=queue.name)) == []
    gcloud("tasks", "queues", "delete", "jobs", location)
    assert list(grpc_client.list_queues(parent=parent)) == []


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
        request={
            "name": f"{emu.queue_name('work')}/tasks/t1",
            "response_view": tasks_v2.Task.View.FULL,
        }
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
    assert list(grpc_client.list_tasks(parent=emu.queue_name("work"))) == []


def test_gcloud_follows_the_emulator_s_own_project_and_location(tmp_path: Path) -> None:
    """gcloud asks ListLocations, then App Engine's apps.get, for the location (answered
    by the emulator, so the command neither waits for Google nor needs --location); the
    project is env-init's --default-project, the emulator's flag of the same name."""
    with Emulator(project="gcloud-project", location="us-east1") as emulator:
        parent = "projects/gcloud-project/locations/us-east1"
        emulator.client().create_queue(parent=parent, queue={"name": f"{parent}/queues/found"})
        env = _fresh_env(tmp_path, emulator, "--default-project", "gcloud-project")
        listed = _gcloud(env, "tasks", "queues", "list", timeout=20)  # Google: 35 s
    assert [q["name"] for q in listed] == [f"{parent}/queues/found"]
