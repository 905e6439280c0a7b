"""Routes (--route): tasks keep their production URLs and reach local handlers; Cloud
Run's front door, when a route asks for it, refuses what Cloud Run refuses.

The handler here is what a Cloud Run service runs: it rebuilds its public URL from the
Host and X-Forwarded-Proto headers and verifies the OIDC token's audience against it with
google-auth, against the emulator's published keys. Tasks are created with the real client;
the virtual clock moves retries, and the tests wait on events, never on sleeps.
"""

from __future__ import annotations

import html
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from google.auth.transport import requests as google_requests
from google.oauth2 import id_token
from requests.structures import CaseInsensitiveDict

from emulator import Emulator
from emulator.cli import parse_settings, startup_file
from emulator.core.errors import ConfigError, StartupError

from support import APP_ENGINE_NOWHERE, LOCATION, PROJECT, Receiver, fast_retries, make_queue

PRODUCTION = "https://worker-xyz-uc.a.run.app"
SERVICE_ACCOUNT = "tasks@test-project.iam.gserviceaccount.com"


class Worker:
    """A local stand-in for the production service: it verifies each request's OIDC token
    against its own public URL (X-Forwarded-Proto://Host/path, as a framework behind a
    proxy sees it) with google-auth, and answers 200, or 401 when the token does not
    verify. `/go-absolute` redirects to the production URL of `/landed`, `/go-relative`
    to `/landed`."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.certs_url = ""  # the emulator's JWKS, set once it runs
        self.arrived = threading.Condition()
        worker = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = CaseInsensitiveDict(self.headers.items())
                public = f"{headers.get('X-Forwarded-Proto')}://{headers['Host']}{self.path}"
                status, claims = 200, None
                if self.path.startswith("/go-"):
                    status = 302
                else:
                    try:
                        claims = worker.verify(headers.get("Authorization", ""), public)
                    except Exception:  # google-auth refused it (its errors vary by version)
                        status = 401
                with worker.arrived:
                    worker.requests.append(
                        {"path": self.path, "headers": headers, "public": public, "claims": claims}
                    )
                    worker.arrived.notify_all()
                self.send_response(status)
                if self.path == "/go-absolute":
                    self.send_header("Location", f"{PRODUCTION}/landed")
                elif self.path == "/go-relative":
                    self.send_header("Location", "/landed")
                elif self.path == "/go-other":
                    self.send_header("Location", "https://other-xyz-uc.a.run.app/landed")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST  # a 302 answer to a POST is followed with a GET

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def verify(self, authorization: str, audience: str) -> dict[str, Any]:
        token = authorization.removeprefix("Bearer ")
        return dict(
            id_token.verify_token(
                token, google_requests.Request(), audience=audience, certs_url=self.certs_url
            )
        )

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def worker() -> Iterator[Worker]:
    handler = Worker()
    yield handler
    handler.close()


@pytest.fixture
def routed(start_emulator: Callable[..., Emulator], worker: Worker) -> Callable[..., Emulator]:
    """An emulator with `routes` ("{worker}" stands for the worker's URL)."""

    def start(*routes: str) -> Emulator:
        emulator = start_emulator(routes=[r.replace("{worker}", worker.url) for r in routes])
        worker.certs_url = f"{emulator.http_url}/.well-known/jwks.json"
        return emulator

    return start


def oidc_task(url: str, **token: str) -> dict[str, Any]:
    oidc = {"service_account_email": SERVICE_ACCOUNT, **token}
    return {"http_request": {"url": url, "body": b"{}", "oidc_token": oidc}}


# -- routes --------------------------------------------------------------------------------


def test_a_production_url_reaches_the_local_handler_as_production_sends_it(
    routed: Callable[..., Emulator], worker: Worker
) -> None:
    emu = routed("https://*-uc.a.run.app={worker}")
    client = emu.client()
    queue = make_queue(client, "emails")
    url = f"{PRODUCTION}/tasks/email"
    task = client.create_task(
        parent=queue.name,
        task={**oidc_task(url), "schedule_time": {"seconds": int(emu.now.timestamp()) + 60}},
    )
    assert client.get_task(name=task.name).http_request.url == url  # the API keeps it
    emu.advance(60)
    (attempt,) = emu.wait_for_attempts(1)
    (request,) = worker.requests
    assert request["path"] == "/tasks/email"
    headers = request["headers"]
    assert headers["Host"] == "worker-xyz-uc.a.run.app"
    assert headers["X-Forwarded-Proto"] == "https"
    assert headers["X-CloudTasks-QueueName"] == "emails"
    assert headers["X-CloudTasks-TaskName"] == task.name.rsplit("/", 1)[1]
    assert headers["User-Agent"] == "Google-Cloud-Tasks"
    # The handler verified the token against its production URL, with google-auth.
    assert request["public"] == url
    assert request["claims"]["aud"] == url
    assert request["claims"]["email"] == SERVICE_ACCOUNT
    assert (attempt.url, attempt.status, attempt.result) == (url, 200, "succeeded")


def test_path_and_query_are_kept_and_the_local_base_path_prefixes_them(
    start_emulator: Callable[..., Emulator], receiver: Receiver
) -> None:
    emu = start_emulator(routes=[f"https://api.example.com={receiver.url}/base/"])
    client = emu.client()
    queue = make_queue(client)
    url = "https://api.example.com/v1/hook?a=1&b=two"
    client.create_task(parent=queue.name, task={"http_request": {"url": url}})
    (attempt,) = emu.wait_for_attempts(1)
    (request,) = receiver.requests
    assert request["path"] == "/base/v1/hook?a=1&b=two"
    assert request["headers"]["Host"] == "api.example.com"
    assert attempt.url == url


def test_the_most_specific_route_wins(
    routed: Callable[..., Emulator], worker: Worker, receiver: Receiver
) -> None:
    emu = routed(
        "https://*-uc.a.run.app={worker}",
        f"https://billing-xyz-uc.a.run.app={receiver.url}",
    )
    client = emu.client()
    queue = make_queue(client)
    for url in ("https://billing-xyz-uc.a.run.app/charge", f"{PRODUCTION}/tasks/email"):
        client.create_task(parent=queue.name, task=oidc_task(url))
    emu.wait_for_attempts(2)
    assert [r["path"] for r in receiver.requests] == ["/charge"]
    assert [r["path"] for r in worker.requests] == ["/tasks/email"]
    assert receiver.requests[0]["headers"]["Host"] == "billing-xyz-uc.a.run.app"


def test_an_unrouted_url_goes_where_it_points(
    routed: Callable[..., Emulator], worker: Worker, receiver: Receiver
) -> None:
    emu = routed("https://*-uc.a.run.app={worker}")
    client = emu.client()
    client.create_task(
        parent=make_queue(client).name, task={"http_request": {"url": f"{receiver.url}/direct"}}
    )
    (attempt,) = emu.wait_for_attempts(1)
    assert attempt.status == 200
    assert receiver.requests[0]["headers"]["Host"] == receiver.url.removeprefix("http://")
    assert "X-Forwarded-Proto" not in receiver.requests[0]["headers"]
    assert worker.requests == []


@pytest.mark.parametrize("path", ["/go-absolute", "/go-relative"])
def test_a_redirect_to_a_production_url_is_routed_too(
    routed: Callable[..., Emulator], worker: Worker, path: str
) -> None:
    emu = routed("https://*-uc.a.run.app={worker}")
    client = emu.client()
    audience = {"audience": PRODUCTION}
    client.create_task(
        parent=make_queue(client).name, task=oidc_task(PRODUCTION + path, **audience)
    )
    (attempt,) = emu.wait_for_attempts(1)
    assert [r["path"] for r in worker.requests] == [path, "/landed"]
    landed = worker.requests[1]
    assert landed["headers"]["Host"] == "worker-xyz-uc.a.run.app"
    assert landed["headers"]["Authorization"].startswith("Bearer ")  # the same origin
    assert attempt.url == PRODUCTION + path
    # /landed verifies the token against its own URL, which the audience is not.
    assert (landed["claims"], attempt.status) == (None, 401)


def test_app_engine_tasks_keep_their_host_whatever_the_routes(
    start_emulator: Callable[..., Emulator], receiver: Receiver
) -> None:
    nowhere = APP_ENGINE_NOWHERE.removeprefix("http://")
    emu = start_emulator(routes=[f"{nowhere}={receiver.url}"])
    client = emu.client()
    queue = make_queue(client, **fast_retries(max_attempts=1))
    client.create_task(parent=queue.name, task={"app_engine_http_request": {"relative_uri": "/a"}})
    client.create_task(parent=queue.name, task={"http_request": {"url": f"{APP_ENGINE_NOWHERE}/h"}})
    emu.wait_for_attempts(2)
    assert [r["path"] for r in receiver.requests] == ["/h"]  # the HTTP task alone is routed


# -- Cloud Run's front door ----------------------------------------------------------------


def test_an_audience_with_a_query_string_is_refused_401_before_the_handler(
    routed: Callable[..., Emulator], worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    emu = routed("https://*-uc.a.run.app={worker};auth")
    client = emu.client()
    queue = make_queue(client, "q", **fast_retries(max_attempts=2))
    url = f"{PRODUCTION}/tasks/email?a=b"  # the default audience is the whole URL
    with caplog.at_level(logging.INFO, logger="emulator.dispatch"):
        client.create_task(parent=queue.name, task=oidc_task(url))
        first, second = emu.wait_for_attempts(2)
    assert worker.requests == []  # never contacted
    why = f"audience {url} does not match the service URL {PRODUCTION}"
    for attempt in (first, second):
        assert attempt.status == 401
        assert attempt.url == url
        assert attempt.error is not None
        assert "Cloud Run's front door" in attempt.error
        assert why in attempt.error
        assert attempt.response_body.startswith(b"Error: Unauthorized\n")
    assert (first.result, second.result) == ("retried", "dropped")  # retried as any failure
    logged = [r.getMessage() for r in caplog.records if "status=401" in r.getMessage()]
    assert len(logged) == 2
    assert why in logged[0]
    assert f"via={worker.url}" in logged[0]
    task = first.task  # the dashboard's task page shows the answer and why
    page = requests.get(f"{emu.http_url}/ui/queues/{PROJECT}/{LOCATION}/q/tasks/{task}", timeout=10)
    assert "HTTP 401" in page.text
    assert html.escape(why) in page.text


def test_the_service_url_passes_the_front_door_with_or_without_the_path(
    routed: Callable[..., Emulator], worker: Worker
) -> None:
    emu = routed("https://*-uc.a.run.app={worker};auth")
    client = emu.client()
    queue = make_queue(client)
    url = f"{PRODUCTION}/tasks/email"
    client.create_task(parent=queue.name, task=oidc_task(url))  # aud: the URL with its path
    client.create_task(parent=queue.name, task=oidc_task(url, audience=PRODUCTION))
    attempts = emu.wait_for_attempts(2)
    assert [r["path"] for r in worker.requests] == ["/tasks/email"] * 2
    # The front door let both through; the handler itself checks the audience it expects.
    assert sorted(a.status for a in attempts if a.status) == [200, 401]


def test_a_custom_audience_passes_only_when_the_route_lists_it(
    routed: Callable[..., Emulator], worker: Worker
) -> None:
    custom = "https://tasks.example.com"
    emu = routed(
        f"https://worker-xyz-uc.a.run.app={{worker}};audiences={custom}",
        "https://*-uc.a.run.app={worker};auth",
    )
    client = emu.client()
    queue = make_queue(client, **fast_retries(max_attempts=1))
    listed = client.create_task(
        parent=queue.name, task=oidc_task(f"{PRODUCTION}/tasks/email", audience=custom)
    )
    unlisted = client.create_task(
        parent=queue.name,
        task=oidc_task("https://other-xyz-uc.a.run.app/tasks/email", audience=custom),
    )
    emu.wait_for_attempts(2)
    (through,) = emu.attempts(task=listed.name)
    (refused,) = emu.attempts(task=unlisted.name)
    assert [r["claims"] for r in worker.requests] == [None]  # it reached the handler
    assert through.status == 401  # ... which expects its own URL as the audience
    assert refused.status == 401
    assert refused.error is not None
    assert f"audience {custom} does not match the service URL" in refused.error


def test_the_front_door_checks_the_first_request_of_a_redirect_chain_only(
    routed: Callable[..., Emulator], worker: Worker
) -> None:
    emu = routed("https://*-uc.a.run.app={worker};auth")
    client = emu.client()
    queue = make_queue(client, **fast_retries(max_attempts=1))
    client.create_task(parent=queue.name, task=oidc_task(f"{PRODUCTION}/go-other"))
    (attempt,) = emu.wait_for_attempts(1)
    assert [r["path"] for r in worker.requests] == ["/go-other", "/landed"]
    landed = worker.requests[1]
    assert landed["headers"]["Host"] == "other-xyz-uc.a.run.app"
    assert "Authorization" not in landed["headers"]  # dropped: another origin
    assert attempt.status == 401  # the worker's answer, not the front door's
    assert attempt.error is None


def test_an_invoker_not_listed_is_refused_403(
    routed: Callable[..., Emulator], worker: Worker
) -> None:
    emu = routed(f"https://*-uc.a.run.app={{worker}};invoker=serviceAccount:{SERVICE_ACCOUNT}")
    client = emu.client()
    queue = make_queue(client, **fast_retries(max_attempts=1))
    url = f"{PRODUCTION}/tasks/email"
    allowed = client.create_task(parent=queue.name, task=oidc_task(url))
    other = "intruder@test-project.iam.gserviceaccount.com"
    stranger = client.create_task(
        parent=queue.name,
        task={"http_request": {"url": url, "oidc_token": {"service_account_email": other}}},
    )
    emu.wait_for_attempts(2)
    (ok,) = emu.attempts(task=allowed.name)
    (refused,) = emu.attempts(task=stranger.name)
    assert ok.status == 200
    assert refused.status == 403
    assert refused.error is not None
    assert f"{other} is not an invoker of {PRODUCTION}" in refused.error
    assert refused.response_body.startswith(b"Error: Forbidden\n")
    assert len(worker.requests) == 1


@pytest.mark.parametrize(
    ("token", "status", "why"),
    [
        (None, 403, "no bearer token"),
        ({"oauth_token": {"service_account_email": SERVICE_ACCOUNT}}, 401, "not an ID token"),
    ],
)
def test_no_id_token_is_refused(
    routed: Callable[..., Emulator],
    worker: Worker,
    token: dict[str, Any] | None,
    status: int,
    why: str,
) -> None:
    emu = routed("https://*-uc.a.run.app={worker};auth")
    client = emu.client()
    request = {"url": f"{PRODUCTION}/tasks/email", **(token or {})}
    client.create_task(
        parent=make_queue(client, **fast_retries(max_attempts=1)).name,
        task={"http_request": request},
    )
    (attempt,) = emu.wait_for_attempts(1)
    assert attempt.status == status
    assert attempt.error is not None
    assert why in attempt.error
    assert worker.requests == []


def test_a_token_signed_by_another_key_is_refused_401(
    routed: Callable[..., Emulator], worker: Worker
) -> None:
    """An Authorization header the task carries itself (no oidc_token): a JWT from
    elsewhere is not an ID token Cloud Run accepts."""
    with Emulator() as elsewhere:
        other = elsewhere.client()
        queue = make_queue(other, "source")
        receiver = Receiver()
        try:
            other.create_task(
                parent=queue.name, task=oidc_task(f"{receiver.url}/x", audience=PRODUCTION)
            )
            elsewhere.wait_for_attempts(1)
            foreign = receiver.requests[0]["headers"]["Authorization"]
        finally:
            receiver.close()
    emu = routed("https://*-uc.a.run.app={worker};auth")
    client = emu.client()
    headers = {"Authorization": foreign}
    client.create_task(
        parent=make_queue(client, **fast_retries(max_attempts=1)).name,
        task={"http_request": {"url": f"{PRODUCTION}/x", "headers": headers}},
    )
    (attempt,) = emu.wait_for_attempts(1)
    assert attempt.status == 401
    assert attempt.error is not None
    assert "not signed by the emulator's key" in attempt.error
    assert worker.requests == []


# -- configuration -------------------------------------------------------------------------


def test_routes_from_the_flag_the_variable_and_the_file_are_one_list(tmp_path: Path) -> None:
    path = tmp_path / "queues.yaml"
    path.write_text(
        "routes:\n"
        "  - https://*-uc.a.run.app=http://worker:8080;invoker=a@p.iam\n"
        "  - pattern: https://api.example.com\n"
        "    to: http://api:8000\n"
        "    audiences: [https://api.example.com, api]\n"
    )
    flags = ["--config", str(path), "--route", "x.example.com=http://x:1"]
    routes = startup_file(parse_settings(flags, environ={})).routes
    assert [(r.pattern, r.base, r.auth) for r in routes] == [
        ("https://*-uc.a.run.app", "http://worker:8080", True),
        ("https://api.example.com", "http://api:8000", True),
        ("x.example.com", "http://x:1", False),
    ]
    env = {"CLOUD_TASKS_EMULATOR_ROUTE": " a.example.com=http://a:1\n b.example.com=http://b:2 "}
    from_env = startup_file(parse_settings([], environ=env)).routes
    assert [r.host for r in from_env] == ["a.example.com", "b.example.com"]


def test_a_bad_route_in_the_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "queues.yaml"
    path.write_text("queues: []\nroutes:\n  - x.example.com=http://w\n  - pattern: '*'\n")
    with pytest.raises(ConfigError) as error:
        startup_file(parse_settings(["--config", str(path)], environ={}))
    assert str(error.value).startswith(f"{path}:4: routes[1]: ")
    assert "a route needs to" in str(error.value)


def test_a_bad_route_for_emulator_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"Emulator\(routes=\.\.\.\): x=http://w;colour=blue"):
        Emulator(routes=["x=http://w;colour=blue"])
    with pytest.raises(StartupError, match="given twice"):
        Emulator(routes=["x.example.com=http://a", {"pattern": "x.example.com", "to": "http://b"}])


@pytest.mark.parametrize(
    ("args", "env", "line"),
    [
        (
            ["--route", "https://*-uc.a.run.app"],
            {},
            "cloud-tasks-emulator: --route/CLOUD_TASKS_EMULATOR_ROUTE: https://*-uc.a.run.app: "
            "not a route: 'https://*-uc.a.run.app' (expected PATTERN=LOCAL_BASE[;auth]"
            "[;invoker=EMAIL,...][;audiences=AUDIENCE,...], e.g. "
            "https://*-uc.a.run.app=http://worker:8080)",
        ),
        (
            [],
            {"CLOUD_TASKS_EMULATOR_ROUTE": "*run=http://w"},
            "cloud-tasks-emulator: --route/CLOUD_TASKS_EMULATOR_ROUTE: *run=http://w: pattern "
            "*run: a wildcard needs a domain after it, e.g. *.run.app or *-uc.a.run.app",
        ),
    ],
)
def test_a_bad_route_stops_the_command_with_one_line(
    args: list[str], env: dict[str, str], line: str
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CLOUD_TASKS_EMULATOR")}
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "--port", "0", "--http-port", "0", *args],
        capture_output=True,
        text=True,
        env=clean | env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [line]


def test_the_pytest_plugin_takes_routes_from_the_ini_file_or_the_command_line(
    pytester: pytest.Pytester, receiver: Receiver
) -> None:
    pytester.makeini(
        f"[pytest]\ncloud_tasks_routes =\n    https://*.a.run.app={receiver.url}/ini\n"
    )
    pytester.makepyfile(
        test_routed="""
        def test_routed(cloud_tasks_client, cloud_tasks_queue, cloud_tasks_emulator):
            url = "https://worker-xyz-uc.a.run.app/b"
            cloud_tasks_client.create_task(
                parent=cloud_tasks_queue("routed"), task={"http_request": {"url": url}}
            )
            (attempt,) = cloud_tasks_emulator.wait_for_attempts(1)
            assert (attempt.url, attempt.status) == (url, 200)
        """
    )
    route = f"https://*-uc.a.run.app={receiver.url}/cli"  # replaces the ini file's
    for args in ([], ["--cloud-tasks-route", route]):
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=120)
        result.assert_outcomes(passed=1)
    assert [r["path"] for r in receiver.requests] == ["/ini/b", "/cli/b"]
