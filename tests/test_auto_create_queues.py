"""Queues on first use (--auto-create-queues): off by default, as production answers a task
for a missing queue NOT_FOUND; when on, the first task creates its queue (every default, or
the start-up file's template), over gRPC, REST, BatchCreateTasks and v2beta3 alike."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from google.api_core import exceptions
from google.cloud import tasks_v2, tasks_v2beta3

from emulator import Emulator
from emulator.cli import parse_settings, startup_file
from emulator.core import errors
from emulator.core.errors import StartupError
from emulator.service.startup_queues import StartupFile

from support import (
    PARENT,
    Client,
    Receiver,
    beta_client,
    emulator_process,
    expect_error,
    grpc_client_of,
    http_task,
    queue_path,
)

LOG_LINE = "created queue {} on first use (--auto-create-queues)"


def _names(client: Client, parent: str = PARENT) -> list[str]:
    return [q.name for q in client.list_queues(parent=parent)]


def test_off_by_default_a_task_for_a_missing_queue_is_not_found(client: Client) -> None:
    with expect_error(client, exceptions.NotFound, errors.QUEUE_NOT_FOUND):
        client.create_task(parent=queue_path("orders"), task=http_task())
    with expect_error(client, exceptions.NotFound, errors.QUEUE_NOT_FOUND):
        client.batch_create_tasks(parent=queue_path("orders"), requests=[{"task": http_task()}])
    assert _names(client) == []


def test_on_the_first_task_creates_the_queue_with_every_default_and_is_delivered(
    start_emulator: Callable[..., Emulator],
    client_of: Callable[[Emulator], Client],
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    own = start_emulator(auto_create_queues=True)
    client = client_of(own)
    with caplog.at_level(logging.INFO, logger="emulator"):
        task = client.create_task(parent=queue_path("orders"), task=http_task(receiver.url))
        client.create_task(parent=queue_path("orders"), task=http_task(receiver.url))
    assert task.name.startswith(queue_path("orders") + "/tasks/")
    assert [r.getMessage() for r in caplog.records if "first use" in r.getMessage()] == [
        LOG_LINE.format(queue_path("orders"))  # once: the second task finds the queue
    ]
    assert receiver.wait_for(2)[0]["method"] == "POST"
    # Listed, and configured as CreateQueue with no settings configures a queue.
    assert _names(client) == [queue_path("orders")]
    made = client.get_queue(name=queue_path("orders"))
    plain = client.create_queue(parent=PARENT, queue={"name": queue_path("plain")})
    assert made.state == tasks_v2.Queue.State.RUNNING
    assert made.rate_limits == plain.rate_limits
    assert made.retry_config == plain.retry_config


def test_batch_create_tasks_creates_its_queue_too(
    start_emulator: Callable[..., Emulator], client_of: Callable[[Emulator], Client]
) -> None:
    client = client_of(start_emulator(auto_create_queues=True))
    operation = client.batch_create_tasks(
        parent=queue_path("batch"), requests=[{"task": http_task()}, {"task": http_task()}]
    )
    assert len(operation.result().tasks) == 2
    assert _names(client) == [queue_path("batch")]


def test_v2beta3_creates_the_queue_on_first_use(start_emulator: Callable[..., Emulator]) -> None:
    own = start_emulator(auto_create_queues=True)
    with beta_client(own) as beta:
        task = beta.create_task(
            parent=queue_path("beta"),
            task=tasks_v2beta3.Task(http_request=tasks_v2beta3.HttpRequest(url="http://x/")),
        )
    assert task.name.startswith(queue_path("beta") + "/tasks/")
    assert _names(own.client()) == [queue_path("beta")]


def test_a_template_configures_the_queues_made_on_first_use(
    start_emulator: Callable[..., Emulator], client_of: Callable[[Emulator], Client]
) -> None:
    template = {
        "rate_limits": {"max_dispatches_per_second": 2, "max_concurrent_dispatches": 3},
        "retry_config": {"max_attempts": 4},
    }
    client = client_of(start_emulator(auto_create_queues=template))
    client.create_task(parent=queue_path("a"), task=http_task())
    other = "projects/other/locations/europe-west1/queues/b"
    client.create_task(parent=other, task=http_task())
    for name in (queue_path("a"), other):
        queue = client.get_queue(name=name)
        assert queue.name == name
        assert queue.rate_limits.max_dispatches_per_second == 2
        assert queue.rate_limits.max_concurrent_dispatches == 3
        assert queue.retry_config.max_attempts == 4


def test_an_invalid_queue_id_is_still_invalid_argument(
    start_emulator: Callable[..., Emulator], client_of: Callable[[Emulator], Client]
) -> None:
    client = client_of(start_emulator(auto_create_queues=True))
    with expect_error(client, exceptions.InvalidArgument, errors.QUEUE_NAME_FORMAT):
        client.create_task(parent=queue_path("not_an_id!"), task=http_task())
    assert _names(client) == []


def test_a_recently_deleted_queue_is_refused_as_create_queue_refuses_it(
    start_emulator: Callable[..., Emulator], client_of: Callable[[Emulator], Client]
) -> None:
    own = start_emulator(auto_create_queues=True, queue_tombstone_ttl=timedelta(days=7))
    client = client_of(own)
    client.create_task(parent=queue_path("gone"), task=http_task())
    client.delete_queue(name=queue_path("gone"))
    with expect_error(client, exceptions.FailedPrecondition) as raised:
        client.create_task(parent=queue_path("gone"), task=http_task())
    assert "existed too recently" in raised.message
    assert "--queue-tombstone-ttl" in raised.message
    assert _names(client) == []
    own.advance(timedelta(days=7, seconds=1))  # the name is free again
    client.create_task(parent=queue_path("gone"), task=http_task())
    assert _names(client) == [queue_path("gone")]


def test_a_queue_made_on_first_use_is_kept_in_the_data_directory(tmp_path: Path) -> None:
    with Emulator(auto_create_queues=True, data_dir=str(tmp_path)) as first:
        first.client().create_task(parent=first.queue_name("kept"), task=http_task())
    with Emulator(data_dir=str(tmp_path)) as second:
        client = second.client()
        assert _names(client, second.parent) == [second.queue_name("kept")]
        assert len(list(client.list_tasks(parent=second.queue_name("kept")))) == 1
        with expect_error(client, exceptions.NotFound):  # off again in this emulator
            client.create_task(parent=second.queue_name("other"), task=http_task())


# -- the command line: flag, variable, start-up file ---------------------------------------

TEMPLATE_FILE = """\
auto_create_queues: {template: standard}
templates:
  - name: standard
    rate_limits: {max_concurrent_dispatches: 7}
    retry_config: {max_attempts: 3, min_backoff: 2s}
queues:
  - name: declared
"""


def _first_use(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[str, str]:
    """Run the emulator with `args`, create a task in the missing queue "fresh"; returns
    the queue's retry config (as text) and what the emulator logged."""
    with emulator_process(tmp_path / "data", *args, env=env) as (process, target, _):
        channel, client = grpc_client_of(target)
        with channel:
            name = "projects/local-project/locations/us-central1/queues/fresh"
            client.create_task(parent=name, task=http_task())
            queue = client.get_queue(name=name)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        assert process.stderr is not None
        return str(queue.retry_config.max_attempts), process.stderr.read()


def test_the_flag_turns_it_on(tmp_path: Path) -> None:
    attempts, log = _first_use(tmp_path, "--auto-create-queues")
    assert attempts == "100"  # the default
    assert LOG_LINE.format("projects/local-project/locations/us-central1/queues/fresh") in log


def test_the_variable_turns_it_on(tmp_path: Path) -> None:
    attempts, log = _first_use(tmp_path, env={"CLOUD_TASKS_EMULATOR_AUTO_CREATE_QUEUES": "true"})
    assert attempts == "100"
    assert "on first use" in log


def test_the_start_up_file_turns_it_on_with_its_template(tmp_path: Path) -> None:
    config = tmp_path / "queues.yaml"
    config.write_text(TEMPLATE_FILE)
    attempts, log = _first_use(tmp_path, "--config", str(config))
    assert attempts == "3"
    assert "on first use" in log


def test_without_flag_variable_or_file_a_missing_queue_is_not_found(tmp_path: Path) -> None:
    with emulator_process(tmp_path / "data") as (_, target, _url):
        channel, client = grpc_client_of(target)
        with channel, pytest.raises(exceptions.NotFound):
            client.create_task(
                parent="projects/local-project/locations/us-central1/queues/fresh",
                task=http_task(),
            )


def _read(tmp_path: Path, text: str) -> StartupFile:
    config = tmp_path / "queues.yaml"
    config.write_text(text)
    return startup_file(parse_settings(["--config", str(config)]))


def test_the_file_s_forms(tmp_path: Path) -> None:
    found = _read(tmp_path, TEMPLATE_FILE)
    assert found.auto_create_queues is True
    assert found.template is not None
    assert found.template.queue.retry_config.max_attempts == 3
    # A template is no queue of its own.
    assert [q.queue.name.queue for q in found.queues] == ["declared"]
    assert _read(tmp_path, "auto_create_queues: true\n").template is None
    assert _read(tmp_path, "queues: []\n").auto_create_queues is False


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "auto_create_queues: {template: missing}\n",
            "queues.yaml:1: auto_create_queues.template: no template named 'missing'",
        ),
        ("auto_create_queues: sometimes\n", "expected true, false or {template: NAME}"),
        (
            "templates:\n  - name: t\n    colour: red\n",
            "queues.yaml:3: templates[0].colour: unknown field",
        ),
    ],
)
def test_a_bad_auto_create_setting_stops_the_start(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(StartupError) as raised:
        _read(tmp_path, text)
    assert problem in str(raised.value)


def test_the_pytest_plugin_has_the_option(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ncloud_tasks_auto_create_queues = true\n")
    pytester.makepyfile(
        test_first_use="""
        def test_first_use(cloud_tasks_client, cloud_tasks_emulator):
            parent = cloud_tasks_emulator.queue_name("jobs")
            task = {"http_request": {"url": "http://127.0.0.1:9/"}}
            cloud_tasks_client.create_task(parent=parent, task=task)
            assert cloud_tasks_client.get_queue(name=parent).name == parent
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120).assert_outcomes(passed=1)
