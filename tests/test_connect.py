"""CLOUD_TASKS_EMULATOR_HOST, the one switch: unmodified code reaches the emulator.

The scripts run as their own processes with nothing but the variable set, as an app
would; the package's .pth file does the rest. No credentials exist in their
environment, so any lookup of them would fail the script.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import grpc
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import tasks_v2, tasks_v2beta3
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from emulator import Emulator, autoconnect

from support import Receiver

UNMODIFIED_APP = """
import asyncio, sys
from google.cloud import tasks_v2

parent = "projects/app-project/locations/us-central1"
url = sys.argv[1]

client = tasks_v2.CloudTasksClient()
queue = client.create_queue(parent=parent, queue={"name": parent + "/queues/unmodified"})
client.create_task(parent=queue.name, task={"http_request": {"url": url + "/sync"}})

rest = tasks_v2.CloudTasksClient(transport="rest")
rest.create_task(parent=queue.name, task={"http_request": {"url": url + "/rest"}})

async def main():
    client = tasks_v2.CloudTasksAsyncClient()
    await client.create_task(parent=queue.name, task={"http_request": {"url": url + "/async"}})

asyncio.run(main())
print(type(client.transport).__name__, type(rest.transport).__name__)
"""


def _clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any emulator or Google credential settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CLOUD_TASKS_EMULATOR", "GOOGLE_", "GCLOUD", "CLOUDSDK"))
    }
    # Were credentials looked up, this would make the lookup fail loudly.
    return {**env, "GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent/credentials.json", **extra}


def _run(script: str, *args: str, env: dict[str, str], cwd: Path | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _collect_garbage_quietly() -> list[warnings.WarningMessage]:
    """Collect garbage now; the ResourceWarnings it raises, instead of raising them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    return [w for w in caught if issubclass(w.category, ResourceWarning)]


HEALTH_CHECK = """
import sys
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
channel = grpc.insecure_channel(sys.argv[1])
health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
"""  # and exit with the channel open, as a short script does


def test_a_relayed_grpc_connection_leaves_no_socket_open() -> None:
    """A client that goes away (here, a script that exits) leaves no socket of the HTTP
    port's gRPC relay open, neither while the emulator runs nor after it stops."""
    with Emulator() as emulator:
        _run(HEALTH_CHECK, emulator.emulator_host, env=_clean_env())
    assert _collect_garbage_quietly() == []


def test_an_unmodified_script_reaches_the_emulator_with_only_the_variable(
    cloud_tasks_emulator: Emulator, receiver: Receiver
) -> None:
    env = _clean_env(CLOUD_TASKS_EMULATOR_HOST=cloud_tasks_emulator.emulator_host)
    out = _run(UNMODIFIED_APP, receiver.url, env=env)
    assert out.split() == ["CloudTasksGrpcTransport", "CloudTasksRestTransport"]
    paths = sorted(r["path"] for r in receiver.wait_for(3))
    assert paths == ["/async", "/rest", "/sync"]
    attempts = cloud_tasks_emulator.wait_for_attempts(3, queue="unmodified")
    assert {(a.project, a.status) for a in attempts} == {("app-project", 200)}


def test_without_the_variable_nothing_changes(cloud_tasks_emulator: Emulator) -> None:
    script = """
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import tasks_v2
    client = tasks_v2.CloudTasksClient(credentials=AnonymousCredentials())
    print(client.api_endpoint)
    """
    assert _run(script, env=_clean_env()).strip() == "cloudtasks.googleapis.com"


def test_explicit_transports_and_endpoints_are_never_overridden(
    cloud_tasks_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUD_TASKS_EMULATOR_HOST", "127.0.0.1:9")  # nothing listens there
    autoconnect.install()
    with grpc.insecure_channel(cloud_tasks_emulator.grpc_target) as channel:
        own = CloudTasksGrpcTransport(channel=channel)
        assert tasks_v2.CloudTasksClient(transport=own).transport is own
    elsewhere = tasks_v2.CloudTasksClient(
        credentials=AnonymousCredentials(), client_options={"api_endpoint": "example.com:443"}
    )
    assert elsewhere.api_endpoint == "example.com:443"


def test_the_autoconnect_fixture_points_clients_built_in_the_test(
    cloud_tasks_autoconnect: str, cloud_tasks_emulator: Emulator
) -> None:
    assert os.environ["CLOUD_TASKS_EMULATOR_HOST"] == cloud_tasks_autoconnect
    client = tasks_v2.CloudTasksClient()  # as the code under test would build it
    parent = cloud_tasks_emulator.parent
    created = client.create_queue(parent=parent, queue={"name": f"{parent}/queues/fixture"})
    seen = cloud_tasks_emulator.client().get_queue(name=created.name)
    assert seen.state == tasks_v2.Queue.State.RUNNING
    beta = tasks_v2beta3.CloudTasksClient(credentials=AnonymousCredentials())
    assert [q.name for q in beta.list_queues(parent=parent)] == [created.name]


APP_MODULE = """
from google.cloud import tasks_v2

client = tasks_v2.CloudTasksClient()  # built at import time, as many apps do
PARENT = "projects/test-project/locations/us-central1"


def enqueue(url):
    queue = client.create_queue(parent=PARENT, queue={"name": PARENT + "/queues/app"})
    return client.create_task(parent=queue.name, task={"http_request": {"url": url}})
"""

APP_TEST = """
import myapp


def test_the_apps_own_client(cloud_tasks_emulator):
    task = myapp.enqueue("http://127.0.0.1:9/never")
    assert cloud_tasks_emulator.client().get_task(name=task.name).name == task.name


def test_and_again_after_the_reset(cloud_tasks_emulator):
    task = myapp.enqueue("http://127.0.0.1:9/never")
    assert task.name.startswith(myapp.PARENT)
"""


def test_the_autoconnect_ini_key_serves_a_module_level_client(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(myapp=APP_MODULE, test_app=APP_TEST)
    pytester.makeini("[pytest]\ncloud_tasks_autoconnect = true\n")
    pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120).assert_outcomes(passed=2)


def test_env_init_prints_the_export_lines() -> None:
    def env_init(*args: str, **env: str) -> list[str]:
        out = _run(
            "from emulator.cli import main; main()",
            "env-init",
            *args,
            env=_clean_env(**env),
        )
        return out.splitlines()

    assert env_init() == ["export CLOUD_TASKS_EMULATOR_HOST=127.0.0.1:8124"]
    assert env_init("--http-port", "9499", "--host", "0.0.0.0") == [
        "export CLOUD_TASKS_EMULATOR_HOST=127.0.0.1:9499"
    ]
    assert env_init("--gcloud", CLOUD_TASKS_EMULATOR_HOST="emulator:9000") == [
        "export CLOUD_TASKS_EMULATOR_HOST=emulator:9000",
        "export CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDTASKS=http://emulator:9000/",
        "export CLOUDSDK_API_ENDPOINT_OVERRIDES_APPENGINE=http://emulator:9000/",
        "export CLOUDSDK_AUTH_DISABLE_CREDENTIALS=true",
        "export CLOUDSDK_CORE_PROJECT=local-project",
        "export CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true",
        "export CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=true",
        "export CLOUDSDK_SURVEY_DISABLE_PROMPTS=true",
    ]
