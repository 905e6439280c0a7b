"""Firebase task queues, unchanged: firebase-admin for Python and for Node enqueue and
delete through CLOUD_TASKS_EMULATOR_HOST alone, and the tasks are delivered.

The SDKs send the versionless route with an empty URL; the emulator creates the queue on
first use and sends the task to the configured function URL (here, a local receiver).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import firebase_admin
import jwt
import pytest
import requests
from firebase_admin import exceptions as firebase_errors
from firebase_admin import functions
from google.cloud import tasks_v2

from emulator import Emulator

from support import Receiver

FULL = tasks_v2.Task.View.FULL


@pytest.fixture
def firebase_emulator(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """An emulator whose function URL is the receiver, and the variable pointing at it."""
    with Emulator(firebase_function_url=receiver.url + "/{project}/{location}/{queue}") as emulator:
        monkeypatch.setenv("CLOUD_TASKS_EMULATOR_HOST", emulator.emulator_host)
        yield emulator


@pytest.fixture
def app(firebase_emulator: Emulator) -> Iterator[firebase_admin.App]:
    app = firebase_admin.initialize_app(options={"projectId": "fb-project"}, name=uuid.uuid4().hex)
    yield app
    firebase_admin.delete_app(app)


def _queue(emulator: Emulator, queue_id: str, location: str = "us-central1") -> str:
    return f"projects/fb-project/locations/{location}/queues/{queue_id}"


def test_python_enqueue_is_delivered_to_the_function(
    app: firebase_admin.App, firebase_emulator: Emulator, receiver: Receiver
) -> None:
    task_id = functions.task_queue("sendEmail", app=app).enqueue({"to": "a@b.c"})
    assert task_id.isdigit()
    (request,) = receiver.wait_for(1)
    assert request["path"] == "/fb-project/us-central1/sendEmail"
    assert json.loads(request["body"]) == {"to": "a@b.c"}
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["X-CloudTasks-QueueName"] == "sendEmail"
    assert request["headers"]["X-CloudTasks-TaskName"] == task_id
    token = request["headers"]["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["email"] == "emulated-service-acct@email.com"  # the SDKs' emulator account
    queue = firebase_emulator.client().get_queue(name=_queue(firebase_emulator, "sendEmail"))
    assert queue.rate_limits.max_dispatches_per_second == 500  # created on first use


def test_python_options_id_schedule_deadline_uri_and_headers(
    app: firebase_admin.App, firebase_emulator: Emulator, receiver: Receiver
) -> None:
    queue = functions.task_queue("locations/europe-west1/functions/report", app=app)
    options = functions.TaskOptions(
        task_id="report-7",
        schedule_delay_seconds=3600,
        dispatch_deadline_seconds=45,
        uri=f"{receiver.url}/custom",
        headers={"X-Tenant": "acme"},
    )
    assert queue.enqueue({"n": 7}, options) == "report-7"
    name = f"{_queue(firebase_emulator, 'report', 'europe-west1')}/tasks/report-7"
    task = firebase_emulator.client().get_task(request={"name": name, "response_view": FULL})
    assert task.dispatch_deadline.total_seconds() == 45
    assert task.http_request.url == f"{receiver.url}/custom"
    assert task.http_request.headers["X-Tenant"] == "acme"
    ahead = task.schedule_time - firebase_emulator.now
    assert timedelta(minutes=59) < ahead <= timedelta(hours=1)
    firebase_emulator.wait_until_idle()
    assert receiver.requests == []
    firebase_emulator.advance(timedelta(hours=1))
    (request,) = receiver.wait_for(1)
    assert request["path"] == "/custom"
    assert request["headers"]["X-Tenant"] == "acme"


def test_python_duplicate_ids_and_delete(
    app: firebase_admin.App, firebase_emulator: Emulator
) -> None:
    queue = functions.task_queue("dedupe", extension_id="mail", app=app)
    later = functions.TaskOptions(task_id="once", schedule_delay_seconds=600)
    queue.enqueue({}, later)
    with pytest.raises(firebase_errors.AlreadyExistsError):
        queue.enqueue({}, functions.TaskOptions(task_id="once"))
    queue.delete("once")
    client = firebase_emulator.client()
    extension_queue = _queue(firebase_emulator, "ext-mail-dedupe")  # the SDK's naming
    assert list(client.list_tasks(parent=extension_queue)) == []
    with pytest.raises(firebase_errors.NotFoundError):
        queue.delete("once")


def test_node_enqueue_and_delete(
    node_packages: Path, firebase_emulator: Emulator, receiver: Receiver
) -> None:
    result = subprocess.run(
        [shutil.which("node") or "node", "firebase.js", "fb-project", f"{receiver.url}/n2"],
        cwd=node_packages,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "CLOUD_TASKS_EMULATOR_HOST": firebase_emulator.emulator_host},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "duplicate": "functions/task-already-exists",
        "deleted": True,
    }
    (first,) = receiver.wait_for(1)
    assert first["path"] == "/fb-project/us-central1/nodeTask"
    assert json.loads(first["body"]) == {"data": {"hello": "node"}}  # Node wraps the payload
    firebase_emulator.advance(timedelta(hours=2))
    paths = [r["path"] for r in receiver.wait_for(2)]
    assert paths == ["/fb-project/us-central1/nodeTask"] * 2  # node-2 was deleted in time
    later = receiver.requests[1]
    assert later["headers"]["X-From"] == "node"
    assert later["headers"]["X-CloudTasks-TaskName"] == "node-1"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "tasks", b"[]", 400, "expected an object"),
        ("POST", "tasks", b'{"task": {"scheduleTime": "tomorrow"}}', 400, "task.schedule_time"),
        ("POST", "tasks", b'{"task": {"httpRequest": {"body": "@@"}}}', 400, "base64"),
        ("POST", "tasks", b'{"task": {"name": "other"}}', 400, "Task name must be formatted"),
        ("GET", "tasks", b"", 404, "it takes"),
        ("DELETE", "tasks/missing", b"", 404, "Requested entity was not found."),
    ],
)
def test_firebase_route_errors_are_json(  # noqa: PLR0917  (parametrized)
    firebase_emulator: Emulator,
    method: str,
    path: str,
    body: bytes,
    status: int,
    message: str,
) -> None:
    base = f"{firebase_emulator.http_url}/projects/fb-project/locations/us-central1/queues/q"
    requests.post(f"{base}/tasks", json={"task": {"scheduleTime": None}}, timeout=10)
    response = requests.request(method, f"{base}/{path}", data=body, timeout=10)
    assert response.status_code == status
    error: dict[str, Any] = response.json()["error"]
    assert message in error["message"]
