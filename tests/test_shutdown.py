"""Graceful shutdown: SIGTERM lets attempts in flight finish (up to --shutdown-grace),
records their outcome, and exits 0; a second signal exits at once."""

from __future__ import annotations

import signal
from pathlib import Path

import grpc
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from support import PARENT, Receiver, emulator_process


def _client(target: str) -> tasks_v2.CloudTasksClient:
    channel = grpc.insecure_channel(target)
    return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))


def _task_in_flight(target: str, receiver: Receiver) -> str:
    client = _client(target)
    queue = f"{PARENT}/queues/drain"
    client.create_queue(parent=PARENT, queue={"name": queue})
    task = client.create_task(
        parent=queue,
        task={"name": f"{queue}/tasks/t", "http_request": {"url": f"{receiver.url}/work"}},
    )
    receiver.wait_for(1)
    return str(task.name)


def test_sigterm_lets_the_attempt_in_flight_finish_and_keeps_its_outcome(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.hold()
    with emulator_process(tmp_path, "--shutdown-grace", "10") as (process, target, _):
        _task_in_flight(target, receiver)
        process.send_signal(signal.SIGTERM)
        receiver.release()  # the handler answers during the grace period
        assert process.wait(timeout=15) == 0
    with emulator_process(tmp_path) as (_, target, _):
        queue = f"{PARENT}/queues/drain"
        assert list(_client(target).list_tasks(parent=queue)) == []  # it succeeded
    assert len(receiver.requests) == 1  # and was not sent again


def test_an_attempt_that_outlasts_the_grace_is_retried_after_the_restart(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.hold()
    with emulator_process(tmp_path, "--shutdown-grace", "0.2") as (process, target, _):
        name = _task_in_flight(target, receiver)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stderr is not None
        assert "1 attempt(s) still in flight are abandoned" in process.stderr.read()
    with emulator_process(tmp_path) as (_, target, _):
        receiver.wait_for(2)  # sent again after the restart: at least once
        task = _client(target).get_task(name=name)
        assert task.dispatch_count == 2  # the first attempt was counted, not lost
        receiver.release()
    assert [r["path"] for r in receiver.requests] == ["/work", "/work"]


def test_a_second_signal_exits_at_once(tmp_path: Path, receiver: Receiver) -> None:
    receiver.hold()
    with emulator_process(tmp_path, "--shutdown-grace", "60") as (process, target, _):
        _task_in_flight(target, receiver)
        process.send_signal(signal.SIGTERM)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 1
        assert process.stderr is not None
        assert "stopping at once" in process.stderr.read()
    receiver.release()
