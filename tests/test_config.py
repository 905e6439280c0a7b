"""Queues configured at start-up: our YAML, App Engine's queue.yaml, --queue and its env
variable all give the same queues, seen through the real client; bad files stop the start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from google.cloud import tasks_v2

from emulator import Emulator
from emulator.cli import parse_settings, startup_queues
from emulator.core.errors import StartupError

OURS = """\
project: demo
location: europe-west1
queues:
  - name: emails
    rate_limits: {max_dispatches_per_second: 10, max_concurrent_dispatches: 5}
    retry_config: {max_attempts: 5, min_backoff: 1s, max_backoff: 60s}
"""
APP_ENGINE = """\
queue:
- name: emails
  rate: 10/s
  bucket_size: 10
  max_concurrent_requests: 5
  retry_parameters:
    task_retry_limit: 4
    min_backoff_seconds: 1
    max_backoff_seconds: 60
total_storage_limit: 1G
"""
FLAG = "emails:rate=10,concurrency=5,max_attempts=5,min_backoff=1s,max_backoff=60s"
NAMES = ["--default-project", "demo", "--default-location", "europe-west1"]


def _queues(*argv: str, env: dict[str, str] | None = None) -> list[tasks_v2.Queue]:
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        queues = startup_queues(parse_settings(list(argv)))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    with Emulator(project="demo", location="europe-west1", queues=queues) as emulator:
        return list(emulator.client().list_queues(parent=emulator.parent))


def test_four_sources_give_the_same_queue(tmp_path: Path) -> None:
    ours = tmp_path / "ours.yaml"
    ours.write_text(OURS)
    app_engine = tmp_path / "queue.yaml"
    app_engine.write_text(APP_ENGINE)
    from_ours = _queues("--config", str(ours))
    from_app_engine = _queues("--config", str(app_engine), *NAMES)
    from_flag = _queues("--queue", FLAG, *NAMES)
    from_env = _queues(*NAMES, env={"CLOUD_TASKS_EMULATOR_QUEUES": FLAG})
    assert from_ours == from_app_engine == from_flag == from_env
    (queue,) = from_ours
    assert queue.name == "projects/demo/locations/europe-west1/queues/emails"
    assert queue.rate_limits.max_dispatches_per_second == 10
    assert queue.rate_limits.max_burst_size == 10
    assert queue.rate_limits.max_concurrent_dispatches == 5
    assert queue.retry_config.max_attempts == 5


def test_app_engine_queue_yaml_maps_like_gcloud(tmp_path: Path) -> None:
    path = tmp_path / "queue.yaml"
    path.write_text(
        "queue:\n"
        "- name: slow\n"
        "  rate: 30/m\n"
        "  target: worker\n"
        "  retry_parameters: {task_age_limit: 2d, max_doublings: 0}\n"
        "- name: bare\n"
    )
    slow, bare = sorted(_queues("--config", str(path), *NAMES), key=lambda q: q.name, reverse=True)
    assert slow.rate_limits.max_dispatches_per_second == 0.5
    assert slow.rate_limits.max_burst_size == 5  # bucket_size's default
    assert slow.app_engine_routing_override.service == "worker"
    assert slow.retry_config.max_retry_duration.total_seconds() == 2 * 86400
    assert slow.retry_config.max_doublings == 0
    assert slow.retry_config.max_attempts == -1  # no task_retry_limit: unlimited
    assert bare.rate_limits.max_concurrent_dispatches == 1000
    assert bare.retry_config.min_backoff.total_seconds() == 0.1


def test_configured_state_and_reset(tmp_path: Path) -> None:
    path = tmp_path / "q.yaml"
    path.write_text("queues:\n  - name: held\n    state: paused\n  - name: open\n")
    queues = startup_queues(parse_settings(["--config", str(path)]))
    with Emulator(project="local-project", queues=queues) as emulator:
        client = emulator.client()
        states = {
            q.name.rsplit("/", 1)[1]: q.state for q in client.list_queues(parent=emulator.parent)
        }
        assert states == {"held": tasks_v2.Queue.State.PAUSED, "open": tasks_v2.Queue.State.RUNNING}
        client.resume_queue(name=emulator.queue_name("held"))
        client.delete_queue(name=emulator.queue_name("open"))
        emulator.reset()
        states = {
            q.name.rsplit("/", 1)[1]: q.state for q in client.list_queues(parent=emulator.parent)
        }
        assert states == {"held": tasks_v2.Queue.State.PAUSED, "open": tasks_v2.Queue.State.RUNNING}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("queues:\n  - name: a\n    colour: blue\n", ":3: queues[0].colour: unknown field"),
        (
            "queues:\n  - name: a\n    rate_limits:\n      max_dispatches_per_second: 900\n",
            ":4: queues[0].rate_limits.max_dispatches_per_second:",
        ),
        (
            "queues:\n  - name: a\n    retry_config: {min_backoff: soon}\n",
            ":3: queues[0].retry_config.min_backoff: not a duration",
        ),
        ("queues:\n  - name: bad_id\n", ":2: queues[0].name: not a queue id"),
        ("queues:\n  - rate_limits: {}\n", "queues[0].name: required"),
        ("queues:\n  - name: a\n  - name: a\n", ":3: queues[1].name: queue a is defined twice"),
        ("queues:\n  - name: a\n    state: asleep\n", ":3: queues[0].state: not a state"),
        ("queue:\n- name: p\n  mode: pull\n", ":3: queue[0].mode: pull queues do not map"),
        ("queue:\n- name: r\n  rate: fast\n", ":3: queue[0].rate: not a rate"),
        ("queue:\n- name: b\n  bucket_size: 501\n", ":3: queue[0].bucket_size: must be between"),
        (
            "queue:\n- name: r\n  retry_parameters: {task_retry_limit: many}\n",
            ":3: queue[0].retry_parameters.task_retry_limit: not a number",
        ),
        ("queues: [unclosed\n", ":2: YAML:"),
        ("queues: 5\n", "queues: expected a list of queues"),
    ],
)
def test_bad_config_names_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "queues.yaml"
    path.write_text(text)
    with pytest.raises(StartupError) as e:
        startup_queues(parse_settings(["--config", str(path)]))
    assert str(e.value).startswith(str(path))
    assert expected in str(e.value)


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("emails:speed=3", "emails.speed: expected key=value"),
        ("emails:rate=fast", "emails.rate: not a float"),
        ("emails:rate=900", "max_dispatches_per_second"),
        ("emails emails", "configured twice"),
    ],
)
def test_bad_queue_flags(flag: str, expected: str) -> None:
    with pytest.raises(StartupError) as e:
        startup_queues(parse_settings(["--queue", flag]))
    assert expected in str(e.value)


def test_the_process_refuses_to_start_on_a_bad_config(tmp_path: Path) -> None:
    path = tmp_path / "queues.yaml"
    path.write_text("queues:\n  - name: a\n    colour: blue\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "emulator",
            "--port",
            "0",
            "--http-port",
            "0",
            "--config",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert f"{path}:3: queues[0].colour: unknown field" in result.stderr
