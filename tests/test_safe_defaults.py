"""Safe defaults: local binding, control that can be switched off, no secrets in the logs,
and no way for a web page to drive the emulator."""

from __future__ import annotations

import logging
import subprocess
import sys

import grpc
import pytest
import requests

from emulator import Emulator, control_pb2

from support import PARENT, Receiver, queue_path


def test_the_defaults_listen_on_loopback_only() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "emulator", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "(default: 127.0.0.1;" in out


def test_no_control_switches_off_the_control_endpoints_and_service() -> None:
    with Emulator(control=False) as emulator:
        response = requests.post(f"{emulator.http_url}/_emulator/reset", json={}, timeout=10)
        assert response.status_code == 404
        assert "switched off" in response.json()["error"]["message"]
        with grpc.insecure_channel(emulator.grpc_target) as channel:
            reset = channel.unary_unary(
                f"/{control_pb2.SERVICE}/Reset",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=control_pb2.ResetResponse.FromString,
            )
            with pytest.raises(grpc.RpcError) as error:
                reset(control_pb2.ResetRequest())
            assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED
        # The API itself is untouched.
        client = emulator.client()
        client.create_queue(parent=PARENT, queue={"name": queue_path("still-here")})


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain"],
)
def test_a_form_post_cannot_reset(cloud_tasks_emulator: Emulator, content_type: str) -> None:
    client = cloud_tasks_emulator.client()
    client.create_queue(parent=PARENT, queue={"name": queue_path("kept")})
    response = requests.post(
        f"{cloud_tasks_emulator.http_url}/_emulator/reset",
        data=b"a=b",
        headers={"Content-Type": content_type},
        timeout=10,
    )
    assert response.status_code == 403
    assert response.json()["error"]["status"] == "PERMISSION_DENIED"
    assert [q.name for q in client.list_queues(parent=PARENT)] == [queue_path("kept")]


def test_a_cross_site_browser_request_cannot_change_anything(
    cloud_tasks_emulator: Emulator,
) -> None:
    base = cloud_tasks_emulator.http_url
    client = cloud_tasks_emulator.client()
    client.create_queue(parent=PARENT, queue={"name": queue_path("kept")})
    for url, body in (
        (f"{base}/_emulator/reset", {}),
        (f"{base}/v2/{queue_path('kept')}:pause", {}),
    ):
        response = requests.post(
            url, json=body, headers={"Sec-Fetch-Site": "cross-site"}, timeout=10
        )
        assert response.status_code == 403, url
    assert client.get_queue(name=queue_path("kept")).state.name == "RUNNING"
    # Same-site and non-browser requests (no Sec-Fetch-Site) work as before.
    same_site = requests.post(
        f"{base}/v2/{queue_path('kept')}:pause",
        json={},
        headers={"Sec-Fetch-Site": "same-origin"},
        timeout=10,
    )
    assert same_site.status_code == 200


def test_no_token_header_or_body_is_logged_at_info(
    cloud_tasks_emulator: Emulator, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="emulator")
    client = cloud_tasks_emulator.client()
    queue = client.create_queue(parent=PARENT, queue={"name": queue_path("secret")})
    client.create_task(
        parent=queue.name,
        task={
            "http_request": {
                "url": f"{receiver.url}/hook",
                "body": b"the-secret-body",
                "headers": {"Authorization": "Bearer caller-secret"},
                "oidc_token": {"service_account_email": "sa@p.iam.gserviceaccount.com"},
            }
        },
    )
    (attempt,) = cloud_tasks_emulator.wait_for_attempts(1)
    token = attempt.headers["Authorization"].removeprefix("Bearer ")
    logged = caplog.text
    assert "attempt=1" in logged  # the attempt was logged
    for secret in ("the-secret-body", "caller-secret", token):
        assert secret not in logged
