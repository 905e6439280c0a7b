"""CLOUD_TASKS_EMULATOR_HOST is read strictly and forgivingly.

`host:port`, `[v6]:port` and `http://host:port` (with or without a trailing `/`, as
`STORAGE_EMULATOR_HOST` is often written) reach the emulator, over gRPC and REST; any
other value fails when the client is built, at once, with a message naming the variable
and the value, instead of hanging in the client's retries. The clients are built as an
app builds them, with the variable as their only setting.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import tasks_v2, tasks_v2beta3

from emulator import Emulator, autoconnect
from emulator.cli import env_init, parse_settings

ENV = "CLOUD_TASKS_EMULATOR_HOST"
ACCEPTED = ["{}", "http://{}", "http://{}/", "HTTP://{}", "  {}\n"]


@pytest.fixture
def set_host(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Set the variable, as an app's environment would before its clients are built."""

    def set_value(value: str) -> None:
        monkeypatch.setenv(ENV, value)
        autoconnect.install()  # what the .pth file does when the variable is set at start

    return set_value


def _create_queue(client: Any, emulator: Emulator, queue_id: str) -> None:
    name = emulator.queue_name(queue_id)
    created = client.create_queue(parent=emulator.parent, queue={"name": name})
    assert created.name == name
    assert emulator.client().get_queue(name=name).name == name


@pytest.mark.parametrize("transport", ["grpc", "rest"])
@pytest.mark.parametrize("form", ACCEPTED)
def test_each_accepted_form_reaches_the_emulator(
    cloud_tasks_emulator: Emulator, set_host: Callable[[str], None], form: str, transport: str
) -> None:
    set_host(form.format(cloud_tasks_emulator.emulator_host))
    client = tasks_v2.CloudTasksClient(transport=transport)
    _create_queue(client, cloud_tasks_emulator, "accepted")
    beta = tasks_v2beta3.CloudTasksClient(transport=transport)
    assert [q.name for q in beta.list_queues(parent=cloud_tasks_emulator.parent)] == [
        cloud_tasks_emulator.queue_name("accepted")
    ]


async def test_the_async_client_reads_the_http_form(
    cloud_tasks_emulator: Emulator, set_host: Callable[[str], None]
) -> None:
    set_host(f"http://{cloud_tasks_emulator.emulator_host}/")
    client = tasks_v2.CloudTasksAsyncClient()
    name = cloud_tasks_emulator.queue_name("async")
    await client.create_queue(parent=cloud_tasks_emulator.parent, queue={"name": name})
    assert cloud_tasks_emulator.client().get_queue(name=name).name == name


@pytest.fixture
def ipv6_emulator(start_emulator: Callable[..., Emulator]) -> Emulator:
    """An emulator listening on the IPv6 loopback only, where the machine has one."""
    if not socket.has_ipv6:
        pytest.skip("this Python has no IPv6 support (socket.has_ipv6 is false)")
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError as error:
        pytest.skip(f"this machine cannot listen on the IPv6 loopback ::1: {error}")
    return start_emulator(host="::1")


@pytest.mark.parametrize("transport", ["grpc", "rest"])
@pytest.mark.parametrize("form", ["{}", "http://{}/"])
def test_an_ipv6_address_in_brackets_reaches_the_emulator(
    ipv6_emulator: Emulator, set_host: Callable[[str], None], form: str, transport: str
) -> None:
    assert ipv6_emulator.emulator_host.startswith("[::1]:")
    set_host(form.format(ipv6_emulator.emulator_host))
    _create_queue(tasks_v2.CloudTasksClient(transport=transport), ipv6_emulator, "v6")


REFUSED = {
    "https://127.0.0.1:8124": "speaks plain HTTP and gRPC, not TLS",
    "ftp://127.0.0.1:8124": "ftp:// is not a scheme the emulator speaks",
    "grpc://127.0.0.1:8124": "grpc:// is not a scheme the emulator speaks",
    "127.0.0.1": "it has no port",
    "localhost": "it has no port",
    "http://localhost": "it has no port",
    "http://localhost:": "it has no port",
    "[::1]": "it has no port",
    "::1:8124": "an IPv6 address needs brackets, as in [::1]:8124",
    "[::1:8124": "the IPv6 address has no closing ]",
    "[example]:8124": "'example' is not an IPv6 address",
    ":8124": "it has no host",
    "http://": "it has no host",
    "127.0.0.1:http": "'http' is not a port (1-65535)",
    "127.0.0.1:0": "'0' is not a port (1-65535)",
    "127.0.0.1:65536": "'65536' is not a port (1-65535)",
    "127.0.0.1:8124/v2": "no path",
    "http://127.0.0.1:8124/v2/": "no path",
    "user@127.0.0.1:8124": "no path, user",
    "local host:8124": "spaces",
    "-bad-:8124": "'-bad-' is not a host name or IPv4 address",
}

BUILDERS: dict[str, Callable[[], Any]] = {
    "v2 grpc": tasks_v2.CloudTasksClient,
    "v2 rest": lambda: tasks_v2.CloudTasksClient(transport="rest"),
    "v2 async": tasks_v2.CloudTasksAsyncClient,
    "v2beta3 grpc": tasks_v2beta3.CloudTasksClient,
    "v2beta3 rest": lambda: tasks_v2beta3.CloudTasksClient(transport="rest"),
}


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize(("value", "reason"), REFUSED.items())
def test_anything_else_fails_when_the_client_is_built(
    set_host: Callable[[str], None], value: str, reason: str, builder: str
) -> None:
    set_host(value)
    with pytest.raises(autoconnect.EmulatorHostError) as raised:
        BUILDERS[builder]()
    message = str(raised.value)
    assert message.startswith(f"{ENV}={value!r} is not host:port (e.g. 127.0.0.1:8124, ")
    assert reason in message
    assert isinstance(raised.value, ValueError)


async def test_the_async_client_fails_when_built_too(set_host: Callable[[str], None]) -> None:
    set_host("https://127.0.0.1:8124")
    with pytest.raises(ValueError, match=r"^CLOUD_TASKS_EMULATOR_HOST='https://127.0.0.1:8124'"):
        tasks_v2.CloudTasksAsyncClient()


def test_clients_with_their_own_endpoint_or_transport_ignore_a_bad_value(
    cloud_tasks_emulator: Emulator, set_host: Callable[[str], None]
) -> None:
    set_host("https://nowhere")
    elsewhere = tasks_v2.CloudTasksClient(
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint="example.com:443"),
    )
    assert elsewhere.api_endpoint == "example.com:443"
    own = cloud_tasks_emulator.client()  # a transport instance of its own
    _create_queue(own, cloud_tasks_emulator, "own")


def test_the_server_listens_where_the_http_form_points() -> None:
    settings = parse_settings([], {ENV: " http://127.0.0.1:9531/ "})
    assert (settings.host, settings.http_port) == ("127.0.0.1", 9531)
    settings = parse_settings([], {ENV: "[::1]:9532"})
    assert (settings.host, settings.http_port) == ("::1", 9532)


def test_the_server_refuses_what_the_clients_refuse(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_settings([], {ENV: "https://127.0.0.1:8124"})
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"{ENV}='https://127.0.0.1:8124' is not host:port" in err
    assert "not TLS" in err


def test_env_init_prints_the_address_the_clients_will_use() -> None:
    assert env_init(["--gcloud"], {ENV: "http://emulator:9000/"}).splitlines()[:2] == [
        f"export {ENV}=emulator:9000",
        "export CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDTASKS=http://emulator:9000/",
    ]
