"""`env-init --credentials PATH`: a throw-away service-account key file for code that calls
`google.auth.default()` itself (gcp-pilot does, before building its client). google-auth
loads it offline, asks the emulator's /token for a token, and nothing in it names Google.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest
import requests
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from emulator import Emulator

from support import Receiver

CLI = Path(sys.executable).with_name("cloud-tasks-emulator")
UNCHECKED_KEY = "a key the emulator does not check, 32 bytes or more"
ACCESS_TOKEN_PREFIX = "ya29.cloud-tasks-emulator."  # the emulator's own OAuth tokens

# What gcp-pilot and the like do: look the credentials up, then build the client with
# them; once through CLOUD_TASKS_EMULATOR_HOST (gRPC), once over REST at an explicit URL.
LIBRARY = textwrap.dedent(
    """
    import json, os, sys
    import google.auth
    from google.api_core.client_options import ClientOptions
    from google.auth.transport.requests import Request
    from google.cloud import tasks_v2

    creds, project = google.auth.default(
        scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    creds.refresh(Request())
    parent = f"projects/{project}/locations/us-central1"
    task = {"http_request": {"url": sys.argv[1]}}
    client = tasks_v2.CloudTasksClient(credentials=creds)
    queue = client.create_queue(parent=parent, queue={"name": parent + "/queues/pilot"})
    by_grpc = client.create_task(parent=queue.name, task=task)
    url = "http://" + os.environ["CLOUD_TASKS_EMULATOR_HOST"]
    rest = tasks_v2.CloudTasksClient(
        credentials=creds, transport="rest", client_options=ClientOptions(api_endpoint=url)
    )
    by_rest = rest.create_task(parent=queue.name, task=task)
    print(json.dumps({"project": project, "token": creds.token,
                      "tasks": [by_grpc.name, by_rest.name]}))
    """
)


def _env_init(emulator: Emulator, *args: str) -> dict[str, str]:
    port = emulator.emulator_host.rsplit(":", 1)[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUD_TASKS_EMULATOR")}
    out = subprocess.run(
        [CLI, "env-init", "--http-port", port, *args],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=30,
    ).stdout
    lines = [line.removeprefix("export ").partition("=") for line in out.splitlines()]
    return {name: value for name, _, value in lines}


@pytest.fixture
def emulator(start_emulator: Callable[..., Emulator]) -> Emulator:
    return start_emulator()


def test_a_library_that_looks_up_credentials_itself_works_with_the_key_file(
    emulator: Emulator, receiver: Receiver, tmp_path: Path
) -> None:
    key_file = tmp_path / "key.json"
    exported = _env_init(emulator, "--credentials", str(key_file))
    assert exported == {
        "CLOUD_TASKS_EMULATOR_HOST": emulator.emulator_host,
        "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
    }
    home = tmp_path / "home"
    home.mkdir()
    # Only env-init's two variables: no gcloud configuration, no other Google variable.
    env = {"PATH": os.environ["PATH"], "HOME": str(home), **exported}
    result = subprocess.run(
        [sys.executable, "-c", LIBRARY, receiver.url + "/work"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["project"] == "local-project"  # the emulator's default project
    assert seen["token"].startswith(ACCESS_TOKEN_PREFIX)  # from the emulator's /token
    assert all(name.startswith(emulator.parent + "/queues/pilot/tasks/") for name in seen["tasks"])
    assert [r["path"] for r in receiver.wait_for(2)] == ["/work", "/work"]


def test_the_key_file_is_private_and_names_nothing_of_google(
    emulator: Emulator, tmp_path: Path
) -> None:
    key_file = tmp_path / "key.json"
    _env_init(emulator, "--credentials", str(key_file))
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    text = key_file.read_text()
    info = json.loads(text)
    assert info["type"] == "service_account"
    assert info["project_id"] == "local-project"
    assert info["token_uri"] == f"{emulator.http_url}/token"
    assert re.findall(r"\w+://[^\"\s]+", text) == [info["token_uri"]]  # its only URL
    assert "googleapis.com" not in text
    assert "google.com" not in text
    # google-auth takes it as it is, offline.
    service_account.Credentials.from_service_account_info(info)


def test_it_overwrites_its_own_key_file_and_no_other(emulator: Emulator, tmp_path: Path) -> None:
    key_file = tmp_path / "key.json"
    _env_init(emulator, "--credentials", str(key_file))
    first = json.loads(key_file.read_text())["private_key_id"]
    _env_init(emulator, "--credentials", str(key_file))
    assert json.loads(key_file.read_text())["private_key_id"] != first
    real = tmp_path / "real.json"
    real.write_text('{"type": "service_account", "client_email": "app@prod.example"}')
    result = subprocess.run(
        [CLI, "env-init", "--credentials", str(real)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "exists and is not a key file env-init wrote" in result.stderr
    assert result.stdout == ""
    assert "prod.example" in real.read_text()


def test_id_tokens_come_from_the_emulator_too(emulator: Emulator, tmp_path: Path) -> None:
    key_file = tmp_path / "key.json"
    _env_init(emulator, "--credentials", str(key_file))
    creds = service_account.IDTokenCredentials.from_service_account_file(  # type: ignore[no-untyped-call]
        str(key_file), target_audience="https://handler.example/"
    )
    creds.refresh(Request())
    keys = jwt.PyJWKClient(f"{emulator.http_url}/.well-known/jwks.json")
    claims = jwt.decode(
        creds.token,
        keys.get_signing_key_from_jwt(creds.token).key,
        algorithms=["RS256"],
        audience="https://handler.example/",
    )
    assert claims["email"] == json.loads(key_file.read_text())["client_email"]


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"assertion": "x.y.z"}, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer"}, "invalid_request"),
        (
            {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "nope"},
            "invalid_request",
        ),
        (
            {
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": jwt.encode({"scope": "s"}, UNCHECKED_KEY, algorithm="HS256"),
            },
            "invalid_grant",
        ),
        (
            {
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": jwt.encode({"iss": "a@b"}, UNCHECKED_KEY, algorithm="HS256"),
            },
            "invalid_scope",
        ),
    ],
)
def test_a_bad_token_request_is_an_oauth_json_error(
    emulator: Emulator, form: dict[str, str], error: str
) -> None:
    answer = requests.post(f"{emulator.http_url}/token", data=form, timeout=10)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json()["error"] == error
    assert answer.json()["error_description"]


def test_a_token_request_that_is_not_a_form_is_an_oauth_json_error(emulator: Emulator) -> None:
    for body, kind in (
        (b'{"grant_type": "x"}', "application/json"),
        (b"", "text/plain"),
        (b"--x\r\nbroken", "multipart/form-data; boundary=x"),
        (b"grant_type=\xff\xfe", "application/x-www-form-urlencoded"),
    ):
        answer = requests.post(
            f"{emulator.http_url}/token", data=body, headers={"Content-Type": kind}, timeout=10
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "invalid_request"
