"""Production's rough edges switched on and off: flags, variables, the start-up file, the
control service over gRPC and HTTP, and `Emulator` (docs/production-parity.md); mistakes
answered clearly. What each rough edge does is tests/delivery/test_rough_edges.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
from google.protobuf import duration_pb2

from emulator import Emulator, RoughEdges, control_pb2
from emulator.cli import parse_settings, startup_file
from emulator.core.errors import StartupError

from support import Client, Receiver, emulator_process, make_queue, queue_path

ON = RoughEdges(
    duplicates=0.25,
    shuffle=True,
    latency=(timedelta(milliseconds=50), timedelta(seconds=2)),
    throttle=True,
    seed=42,
)


# -- flags, variables, the start-up file --------------------------------------------------


def test_flags_and_variables_switch_them_on() -> None:
    flags = ["--duplicates", "25%", "--shuffle", "--latency", "50ms-2s", "--throttle"]
    settings = parse_settings([*flags, "--rough-edges-seed", "42"], environ={})
    assert settings.rough_edges == ON
    env = {
        "CLOUD_TASKS_EMULATOR_DUPLICATES": "0.25",
        "CLOUD_TASKS_EMULATOR_SHUFFLE": "true",
        "CLOUD_TASKS_EMULATOR_LATENCY": "50ms-2s",
        "CLOUD_TASKS_EMULATOR_THROTTLE": "1",
        "CLOUD_TASKS_EMULATOR_ROUGH_EDGES_SEED": "42",
    }
    assert parse_settings([], environ=env).rough_edges == ON
    assert parse_settings(["--duplicates", "1"], environ=env).rough_edges.duplicates == 1.0
    assert parse_settings(["--latency", "1s"], environ={}).rough_edges.latency == (
        timedelta(seconds=1),
        timedelta(seconds=1),
    )
    assert parse_settings([], environ={}).rough_edges == RoughEdges()  # off


@pytest.mark.parametrize(
    ("args", "env", "line"),
    [
        (
            ["--duplicates", "2"],
            {},
            "argument --duplicates: not a fraction from 0 to 1: 2 (e.g. 0.01 or 1%)",
        ),
        (
            ["--latency", "2s-1s"],
            {},
            "argument --latency: not a latency range: 2s-1s (the minimum is above the maximum)",
        ),
        (["--latency", "2h"], {}, "argument --latency: not a latency range: 2h (at most 1h)"),
        (
            ["--rough-edges-seed", "-1"],
            {},
            "argument --rough-edges-seed: not a seed: -1 (a whole number from 0 to 2^63-1)",
        ),
        (
            [],
            {"CLOUD_TASKS_EMULATOR_LATENCY": "soon"},
            "CLOUD_TASKS_EMULATOR_LATENCY: not a latency range: soon (e.g. 50ms-2s, or 1s)",
        ),
        (
            [],
            {"CLOUD_TASKS_EMULATOR_SHUFFLE": "maybe"},
            "CLOUD_TASKS_EMULATOR_SHUFFLE: not true or false: maybe",
        ),
    ],
)
def test_bad_values_are_one_clear_line(
    capsys: pytest.CaptureFixture[str], args: list[str], env: dict[str, str], line: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_settings(args, environ=env)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"cloud-tasks-emulator: error: {line}"


FILE = """\
project: test-project
rough_edges: {duplicates: 0.5, latency: 1s-3s, seed: 9}
queues:
  - name: emails
    rough_edges: {shuffle: true, throttle: true}
  - name: plain
"""


def test_the_start_up_file_sets_them_for_all_and_per_queue(tmp_path: Path) -> None:
    path = tmp_path / "queues.yaml"
    path.write_text(FILE)
    found = startup_file(parse_settings(["--config", str(path)], environ={}))
    assert found.rough_edges == RoughEdges(
        duplicates=0.5, latency=(timedelta(seconds=1), timedelta(seconds=3)), seed=9
    )
    emails, plain = found.queues
    assert emails.rough_edges == RoughEdges(shuffle=True, throttle=True)
    assert plain.rough_edges is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rough_edges: {duplicates: 2}\n", ":1: rough_edges.duplicates: not a fraction"),
        ("rough_edges: {colour: red}\n", ":1: rough_edges.colour: unknown field"),
        (
            "queues:\n  - name: a\n    rough_edges:\n      latency: 3s-1s\n",
            ":4: queues[0].rough_edges.latency: not a latency range: 3s-1s",
        ),
        (
            "queues:\n  - name: a\n    rough_edges: {shuffle: sometimes}\n",
            ":3: queues[0].rough_edges.shuffle: not true or false",
        ),
        ("rough_edges: {seed: -3}\n", ":1: rough_edges.seed: not a whole number"),
        (
            "templates:\n  - name: t\n    rough_edges: {shuffle: true}\n",
            ":3: templates[0].rough_edges: not in a template",
        ),
    ],
)
def test_a_bad_start_up_file_names_the_line_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "queues.yaml"
    path.write_text(text)
    with pytest.raises(StartupError) as e:
        startup_file(parse_settings(["--config", str(path)], environ={}))
    assert expected in str(e.value)


def test_the_process_takes_the_file_and_flags_and_the_flags_win(tmp_path: Path) -> None:
    path = tmp_path / "queues.yaml"
    path.write_text(FILE)
    args = ("--config", str(path), "--duplicates", "0.1", "--throttle")
    with emulator_process(tmp_path / "data", *args) as (_, _, http_url):
        every = requests.get(f"{http_url}/_emulator/rough-edges", timeout=10).json()
        assert every == {
            "rough_edges": {
                "duplicates": 0.1,  # the flag's
                "shuffle": False,
                "latency": "1s-3s",  # the file's
                "throttle": True,  # the flag's
                "seed": 9,
            },
            "own": False,
            "enforced_rate": None,
        }
        queue = "projects/test-project/locations/us-central1/queues/emails"
        emails = requests.get(
            f"{http_url}/_emulator/rough-edges", params={"queue": queue}, timeout=10
        ).json()
        assert emails["own"] is True
        assert emails["rough_edges"]["shuffle"] is True
        assert emails["rough_edges"]["duplicates"] == 0
        assert emails["rough_edges"]["seed"] == 9  # the emulator's


# -- at run time: gRPC, HTTP, Emulator ----------------------------------------------------


def _duplicated(emu: Emulator, client: Client, receiver: Receiver, name: str) -> bool:
    """Whether a task of a new queue `name` is delivered twice."""
    queue = make_queue(client, name)
    client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
    emu.advance(60)
    emu.wait_until_idle()
    return any(a.duplicate for a in emu.attempts(queue=queue.name))


@pytest.fixture
def control_call(emu: Emulator) -> Callable[[str, Any], Any]:
    channel = grpc.insecure_channel(emu.grpc_target)

    def call(rpc: str, request: Any) -> Any:
        response = "RoughEdgesState"
        method = channel.unary_unary(
            f"/{control_pb2.SERVICE}/{rpc}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=vars(control_pb2)[response].FromString,
        )
        return method(request)

    return call


def test_on_and_off_at_run_time_over_grpc(
    emu: Emulator,
    grpc_client: Client,
    receiver: Receiver,
    control_call: Callable[[str, Any], Any],
) -> None:
    on = control_pb2.RoughEdges(
        duplicates=1.0,
        latency_min=duration_pb2.Duration(nanos=50_000_000),
        latency_max=duration_pb2.Duration(seconds=2),
        seed=5,
    )
    state = control_call("SetRoughEdges", control_pb2.SetRoughEdgesRequest(rough_edges=on))
    assert state.rough_edges == on
    assert not state.own
    assert not state.HasField("enforced_rate")
    assert _duplicated(emu, grpc_client, receiver, "grpc-on")
    off = control_call(
        "SetRoughEdges",
        control_pb2.SetRoughEdgesRequest(rough_edges=control_pb2.RoughEdges()),
    )
    assert off.rough_edges.duplicates == 0
    assert off.rough_edges.seed != 5  # the emulator's own seed again
    assert not _duplicated(emu, grpc_client, receiver, "grpc-off")
    queue = queue_path("grpc-queue")
    mine = control_call(
        "SetRoughEdges",
        control_pb2.SetRoughEdgesRequest(
            queue=queue, rough_edges=control_pb2.RoughEdges(duplicates=1)
        ),
    )
    assert mine.own
    read = control_call("GetRoughEdges", control_pb2.GetRoughEdgesRequest(queue=queue))
    assert read == mine
    assert _duplicated(emu, grpc_client, receiver, "grpc-queue")
    assert not _duplicated(emu, grpc_client, receiver, "grpc-other")
    back = control_call("SetRoughEdges", control_pb2.SetRoughEdgesRequest(queue=queue))
    assert not back.own  # the start-up settings again: none of its own


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (
            control_pb2.SetRoughEdgesRequest(rough_edges=control_pb2.RoughEdges(duplicates=1.5)),
            "rough_edges.duplicates: not a fraction from 0 to 1: 1.5",
        ),
        (
            control_pb2.SetRoughEdgesRequest(
                rough_edges=control_pb2.RoughEdges(latency_min=duration_pb2.Duration(seconds=3))
            ),
            "rough_edges.latency: needs 0 <= min <= max <= 1h, got 3s-0s",
        ),
        (
            control_pb2.SetRoughEdgesRequest(rough_edges=control_pb2.RoughEdges(seed=-1)),
            "rough_edges.seed: not a whole number from 0 to 2^63-1: -1",
        ),
        (
            control_pb2.SetRoughEdgesRequest(queue="projects/x/queues/y"),
            "Not a queue id or name: 'projects/x/queues/y'",
        ),
    ],
)
def test_bad_values_over_grpc_are_invalid_argument(
    control_call: Callable[[str, Any], Any], request_: Any, message: str
) -> None:
    with pytest.raises(grpc.RpcError) as error:
        control_call("SetRoughEdges", request_)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.value.details()


def test_on_and_off_at_run_time_over_http(
    emu: Emulator, grpc_client: Client, receiver: Receiver
) -> None:
    url = f"{emu.http_url}/_emulator/rough-edges"
    body = {"rough_edges": {"duplicates": "100%", "latency": "50ms-2s", "seed": 3}}
    state = requests.put(url, json=body, timeout=10).json()
    assert state == {
        "rough_edges": {
            "duplicates": 1.0,
            "shuffle": False,
            "latency": "0.05s-2s",
            "throttle": False,
            "seed": 3,
        },
        "own": False,
        "enforced_rate": None,
    }
    assert requests.get(url, timeout=10).json() == state
    assert _duplicated(emu, grpc_client, receiver, "http-on")
    requests.put(url, json={"rough_edges": {}}, timeout=10).raise_for_status()
    assert not _duplicated(emu, grpc_client, receiver, "http-off")
    queue = queue_path("http-queue")
    own = requests.put(
        url, json={"queue": queue, "rough_edges": {"duplicates": 1}}, timeout=10
    ).json()
    assert own["own"] is True
    assert _duplicated(emu, grpc_client, receiver, "http-queue")
    requests.put(url, json={"queue": queue, "rough_edges": None}, timeout=10).raise_for_status()
    assert requests.get(url, params={"queue": queue}, timeout=10).json()["own"] is False


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"rough_edges": {"duplicates": 2}}, "rough_edges.duplicates: not a fraction"),
        ({"rough_edges": {"duplicates": "lots"}}, "rough_edges.duplicates: not a fraction"),
        ({"rough_edges": {"latency": "3s-1s"}}, "rough_edges.latency: not a latency range"),
        ({"rough_edges": {"shuffle": "yes"}}, "rough_edges.shuffle: not true or false"),
        ({"rough_edges": {"seed": 1.5}}, "rough_edges.seed: not a whole number"),
        ({"rough_edges": {"color": "red"}}, "rough_edges: unknown keys color"),
        ({"rough_edges": []}, '"rough_edges" must be an object'),
        ({"queue": 5}, '"queue" must be a queue id or name'),
        ({"queue": "Not A Queue!"}, "Not a queue id or name"),
        ({"colour": 1}, "Unknown fields: colour"),
    ],
)
def test_bad_values_over_http_are_400_invalid_argument(
    emu: Emulator, body: dict[str, Any], message: str
) -> None:
    answer = requests.put(f"{emu.http_url}/_emulator/rough-edges", json=body, timeout=10)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert message in error["message"]


def test_emulator_refuses_bad_values_when_they_are_made() -> None:
    with pytest.raises(ValueError, match="duplicates: not a fraction from 0 to 1: 2"):
        RoughEdges(duplicates=2)
    with pytest.raises(ValueError, match="latency: needs 0 <= min <= max"):
        RoughEdges(latency=(timedelta(seconds=2), timedelta(seconds=1)))
    with pytest.raises(ValueError, match="latency: not a"):
        RoughEdges(latency=(1, 2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed: not a whole number"):
        RoughEdges(seed=-1)


def test_a_throttled_queue_shows_its_rate_on_its_page_and_in_metrics(
    emu: Emulator, grpc_client: Client, receiver: Receiver
) -> None:
    emu.set_rough_edges(RoughEdges(throttle=True))
    receiver.status = 503
    queue = make_queue(grpc_client, "shown", retry_config={"max_attempts": 1})
    grpc_client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
    emu.wait_for_attempts(1)
    project, location = queue.name.split("/")[1], queue.name.split("/")[3]
    page = requests.get(f"{emu.http_url}/ui/queues/{project}/{location}/shown", timeout=10).text
    assert "throttled to 250/s" in page
    metrics = requests.get(f"{emu.http_url}/metrics", timeout=10).text
    labels = 'location="us-central1",project="test-project",queue="shown"'
    assert f"cloud_tasks_emulator_enforced_rate{{{labels}}} 250.0" in metrics
