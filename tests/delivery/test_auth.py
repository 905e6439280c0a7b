"""Authorization tokens on the outgoing request, and App Engine tasks."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest
import requests
from google.auth.transport import requests as google_requests
from google.oauth2 import id_token

from emulator import Emulator

from support import APP_ENGINE_NOWHERE, Client, Receiver, fast_retries, make_queue


def bearer(request: dict[str, Any]) -> str:
    authorization = request["headers"]["authorization"]
    assert authorization.startswith("Bearer ")
    return str(authorization.removeprefix("Bearer "))


def verify(emu: Emulator, token: str, audience: str) -> dict[str, Any]:
    """The claims of an OIDC token, verified against the emulator's published keys."""
    return dict(
        id_token.verify_token(
            token,
            google_requests.Request(),
            audience=audience,
            certs_url=f"{emu.http_url}/.well-known/jwks.json",
        )
    )


# -- tokens -----------------------------------------------------------------------------


def test_oidc_token_verifies_with_google_auth(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    queue = make_queue(client)
    url = f"{receiver.url}/secure?x=1"
    email = "worker@test-project.iam.gserviceaccount.com"
    client.create_task(
        parent=queue.name,
        task={"http_request": {"url": url, "oidc_token": {"service_account_email": email}}},
    )
    emu.wait_for_attempts(1)
    claims = verify(emu, bearer(receiver.requests[0]), url)
    assert claims["aud"] == url  # the full task URL, query included
    assert claims["email"] == email
    assert claims["email_verified"] is True
    assert claims["iss"] == emu.http_url
    assert claims["sub"] == claims["azp"]
    assert claims["sub"].isdigit()
    assert claims["exp"] - claims["iat"] == 3600


def test_oidc_token_with_audience_and_a_fresh_token_per_attempt(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    receiver.responses = [500]
    queue = make_queue(client, **fast_retries())
    client.create_task(
        parent=queue.name,
        task={
            "http_request": {
                "url": receiver.url,
                "oidc_token": {"service_account_email": "a@b.iam", "audience": "my-service"},
            }
        },
    )
    emu.wait_for_attempts(2)
    tokens = [bearer(r) for r in receiver.requests]
    assert len(tokens) == 2  # one token minted for each attempt
    for token in tokens:
        assert verify(emu, token, "my-service")["email"] == "a@b.iam"
    with pytest.raises(jwt.InvalidAudienceError):
        verify(emu, tokens[0], receiver.url)


def test_openid_configuration_points_at_the_jwks(emu: Emulator) -> None:
    config = requests.get(f"{emu.http_url}/.well-known/openid-configuration", timeout=10).json()
    assert config["issuer"] == emu.http_url
    jwks = requests.get(config["jwks_uri"], timeout=10).json()
    (key,) = jwks["keys"]
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert "d" not in key  # never the private key
    assert "p" not in key


def test_oauth_token_is_a_recognisable_bearer(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    queue = make_queue(client)
    client.create_task(
        parent=queue.name,
        task={
            "http_request": {
                "url": receiver.url,
                "oauth_token": {"service_account_email": "sa@p.iam"},
            }
        },
    )
    emu.wait_for_attempts(1)
    token = bearer(receiver.requests[0])
    assert token.startswith("ya29.cloud-tasks-emulator.")
    payload = token.removeprefix("ya29.cloud-tasks-emulator.")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["email"] == "sa@p.iam"
    assert claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"


def test_queue_level_token_overrides_the_task(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    queue = make_queue(
        client,
        "tokened",
        http_target={"oidc_token": {"service_account_email": "queue@p.iam", "audience": "aud"}},
    )
    client.create_task(
        parent=queue.name,
        task={
            "http_request": {"url": receiver.url, "oauth_token": {"service_account_email": "t@p"}}
        },
    )
    emu.wait_for_attempts(1)
    assert verify(emu, bearer(receiver.requests[0]), "aud")["email"] == "queue@p.iam"


# -- App Engine ---------------------------------------------------------------------------


@pytest.fixture
def app_engine(start_emulator: Callable[..., Emulator], receiver: Receiver) -> Emulator:
    """An emulator that sends App Engine tasks to the receiver."""
    return start_emulator(app_engine_host=receiver.url)


def test_app_engine_task_goes_to_the_configured_host(
    app_engine: Emulator, receiver: Receiver
) -> None:
    client = app_engine.client()
    receiver.responses = [503, 200]
    queue = make_queue(client, "ae", **fast_retries())
    client.create_task(
        parent=queue.name,
        task={
            "name": f"{queue.name}/tasks/ae-1",
            "app_engine_http_request": {"relative_uri": "/ae/handler?x=1", "body": b"{}"},
        },
    )
    app_engine.wait_for_attempts(2)
    first, second = receiver.requests
    assert first["path"] == "/ae/handler?x=1"
    assert first["body"] == b"{}"
    headers = first["headers"]
    assert headers["x-appengine-queuename"] == "ae"
    assert headers["x-appengine-taskname"] == "ae-1"
    assert headers["x-appengine-taskretrycount"] == "0"
    assert headers["user-agent"] == "AppEngine-Google; (+http://code.google.com/appengine)"
    assert headers["content-type"] == "application/octet-stream"
    assert "x-cloudtasks-queuename" not in headers
    # App Engine counts a 503 as an execution, and names the retry reason.
    assert second["headers"]["x-appengine-taskexecutioncount"] == "1"
    assert second["headers"]["x-appengine-taskpreviousresponse"] == "503"
    assert second["headers"]["x-appengine-taskretryreason"] == "App Error"


def test_the_test_emulators_app_engine_target_is_a_port_nothing_listens_on(
    emu: Emulator, client: Client
) -> None:
    """Not 127.0.0.1:8080, the product's default, where a machine may run anything: the
    tests' App Engine target is refused whatever runs beside them (tests/conftest.py)."""
    queue = make_queue(client, **fast_retries(max_attempts=1))
    client.create_task(parent=queue.name, task={"app_engine_http_request": {"relative_uri": "/x"}})
    (attempt,) = emu.wait_for_attempts(1)
    assert attempt.url == f"{APP_ENGINE_NOWHERE}/x"
    assert attempt.status is None
    assert attempt.error is not None
    assert "cannot connect" in attempt.error


def test_app_engine_tasks_do_not_follow_redirects(app_engine: Emulator, receiver: Receiver) -> None:
    client = app_engine.client()
    queue = make_queue(client, **fast_retries(max_attempts=1))
    client.create_task(
        parent=queue.name, task={"app_engine_http_request": {"relative_uri": "/redirect/1"}}
    )
    (settled,) = app_engine.wait_for_attempts(1)
    assert settled.status == 302
    assert len(receiver.requests) == 1
