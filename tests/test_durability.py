"""--data-dir: what was acknowledged survives a restart, clean or after SIGKILL.

The emulator runs as users run it, `cloud-tasks-emulator` in its own process; the
deliveries go to a local receiver, which is the judge of what was delivered.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
import requests
from google.api_core import exceptions
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from emulator import Emulator
from emulator.core import errors
from emulator.core.clock import utc_now

from support import PARENT, TARGET_URL, Receiver, emulator_process


def _client(target: str) -> tuple[tasks_v2.CloudTasksClient, grpc.Channel]:
    channel = grpc.insecure_channel(target)
    return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel)), channel


def _queue(client: tasks_v2.CloudTasksClient, queue_id: str, **fields: object) -> str:
    name = f"{PARENT}/queues/{queue_id}"
    client.create_queue(parent=PARENT, queue={"name": name, **fields})
    return name


def test_sigkill_during_deliveries_loses_no_acknowledged_task(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.hold()  # deliveries stay in flight when the emulator is killed
    acknowledged: dict[str, str] = {}  # task name -> the path it is delivered to
    with emulator_process(tmp_path) as (process, target, _):
        client, channel = _client(target)
        busy = _queue(client, "busy", rate_limits={"max_concurrent_dispatches": 3})
        later = _queue(client, "later")
        paused = _queue(client, "paused")
        client.pause_queue(name=paused)
        for i in range(10):
            for name in (busy, paused):
                task = client.create_task(
                    parent=name,
                    task={
                        "name": f"{name}/tasks/t{i}",
                        "http_request": {"url": f"{receiver.url}/{name.rsplit('/', 1)[1]}/{i}"},
                    },
                )
                acknowledged[task.name] = task.http_request.url
        far = client.create_task(
            parent=later,
            task={
                "name": f"{later}/tasks/tomorrow",
                "http_request": {"url": f"{receiver.url}/later/tomorrow"},
                "schedule_time": utc_now() + timedelta(days=1),
            },
        )
        acknowledged[far.name] = f"{receiver.url}/later/tomorrow"
        receiver.wait_for(3)  # three attempts of "busy" are in flight
        process.send_signal(signal.SIGKILL)
        process.wait()
        channel.close()
    receiver.release()
    with emulator_process(tmp_path) as (_, target, _http_url):
        client, channel = _client(target)
        queues = {q.name: q for q in client.list_queues(parent=PARENT)}
        assert set(queues) == {busy, later, paused}
        assert queues[paused].state == tasks_v2.Queue.State.PAUSED
        assert queues[busy].rate_limits.max_concurrent_dispatches == 3
        client.resume_queue(name=paused)
        requests.post(f"{_http_url}/_emulator/wait-until-idle", json={"timeout": 30}, timeout=60)
        left = {t.name for q in queues for t in client.list_tasks(parent=q)}
        assert left == {far.name}  # everything else was delivered
        channel.close()
    delivered = {r["path"] for r in receiver.requests}
    for name, url in acknowledged.items():
        path = url.removeprefix(receiver.url)
        assert path in delivered or name in left, f"{name} was lost"
    # The three in flight at the kill were retried after the restart: at least once.
    assert len(receiver.requests) >= 20 + 3


def test_a_clean_restart_keeps_everything(tmp_path: Path) -> None:
    with Emulator(data_dir=str(tmp_path)) as first:
        client = first.client()
        name = first.queue_name("kept")
        client.create_queue(
            parent=first.parent,
            queue={"name": name, "retry_config": {"max_attempts": 7, "max_doublings": 2}},
        )
        client.pause_queue(name=name)
        client.create_task(
            parent=name,
            task={
                "name": f"{name}/tasks/a",
                "http_request": {
                    "url": "http://127.0.0.1:9/",
                    "body": b"b",
                    "headers": {"X-K": "v"},
                },
            },
        )
        client.create_task(
            parent=name,
            task={"name": f"{name}/tasks/gone", "http_request": {"url": "http://127.0.0.1:9/"}},
        )
        client.delete_task(name=f"{name}/tasks/gone")
        client.set_iam_policy(
            request={
                "resource": name,
                "policy": {"bindings": [{"role": "roles/viewer", "members": ["user:a@b.c"]}]},
            }
        )
        first.advance(timedelta(minutes=30))
        clock = first.now
    with Emulator(data_dir=str(tmp_path)) as second:
        client = second.client()
        queue = client.get_queue(name=name)
        assert queue.state == tasks_v2.Queue.State.PAUSED
        assert queue.retry_config.max_attempts == 7
        assert queue.retry_config.max_doublings == 2
        task = client.get_task(request={"name": f"{name}/tasks/a", "response_view": 2})
        assert task.http_request.body == b"b"
        assert task.http_request.headers["X-K"] == "v"
        assert client.get_iam_policy(resource=name).bindings[0].members == ["user:a@b.c"]
        # The virtual clock kept its lead, and the deleted name is still reserved.
        assert second.now >= clock
        with pytest.raises(exceptions.AlreadyExists):
            client.create_task(
                parent=name,
                task={"name": f"{name}/tasks/gone", "http_request": {"url": "http://127.0.0.1:9/"}},
            )
        with pytest.raises(exceptions.NotFound) as missing:
            client.get_task(name=f"{name}/tasks/gone")
        assert missing.value.message == errors.TASK_TOMBSTONED


def _committed_tasks(path: Path) -> set[str]:
    """The task names another reader of the data directory sees: what is committed."""
    with sqlite3.connect(path / "state.sqlite3") as db:
        return {name for (name,) in db.execute("SELECT name FROM tasks")}


@pytest.mark.parametrize("port", ["grpc", "rest"])
def test_what_an_answer_acknowledges_is_committed_when_it_arrives(
    tmp_path: Path, port: str
) -> None:
    # Changes are committed in groups (docs/operations.md), but never after the answer
    # that acknowledges them: another reader of the file sees each task at once.
    with Emulator(data_dir=str(tmp_path)) as emu:
        client = emu.client() if port == "grpc" else emu.rest_client()
        name = emu.queue_name("q")
        client.create_queue(parent=emu.parent, queue={"name": name})
        client.pause_queue(name=name)
        created = set()
        for number in range(5):
            task = client.create_task(
                parent=name,
                task={"name": f"{name}/tasks/t{number}", "http_request": {"url": TARGET_URL}},
            )
            created.add(task.name)
            assert _committed_tasks(tmp_path) == created
        client.delete_task(name=f"{name}/tasks/t0")
        assert _committed_tasks(tmp_path) == created - {f"{name}/tasks/t0"}


def test_reset_empties_the_data_directory(tmp_path: Path) -> None:
    with Emulator(data_dir=str(tmp_path)) as first:
        first.client().create_queue(parent=first.parent, queue={"name": first.queue_name("q")})
        first.reset()
    with Emulator(data_dir=str(tmp_path)) as second:
        assert list(second.client().list_queues(parent=second.parent)) == []


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda path: (path / "state.sqlite3").write_bytes(b"not a database" * 100), "corrupted"),
        (
            lambda path: _set_format(path / "state.sqlite3", "99"),
            "holds format 99",
        ),
    ],
    ids=["not-a-database", "another-format"],
)
def test_a_data_directory_it_cannot_read_stops_the_start(
    tmp_path: Path, damage: object, message: str
) -> None:
    with Emulator(data_dir=str(tmp_path)):
        pass
    damage(tmp_path)  # type: ignore[operator]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "emulator",
            "--port",
            "0",
            "--http-port",
            "0",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert message in result.stderr
    assert "Use another --data-dir" in result.stderr


def _set_format(path: Path, value: str) -> None:
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'format'", (value,))


# -- a crash at each step of a settle (CLOUD_TASKS_EMULATOR_CRASH_AT, docs: datadir) -----
# The data directory's crash hook kills the process with SIGKILL at a named step: after a
# write of a transaction and before its commit, or just after the commit. Whatever the
# step, the task is still there (its attempt is delivered again: at least once) or gone
# with its name reserved, never gone with its name free.

CRASHES = [
    # (step, the target's answer, whether the settle was committed)
    ("dispatch/put_task", 200, False),
    ("dispatch/commit", 200, False),
    ("settle/delete_tasks", 200, False),
    ("settle/put_tombstones", 200, False),
    ("settle/commit", 200, True),
    ("settle/put_task", 500, False),  # a failed attempt, rescheduled
    ("settle/commit", 500, True),
]


@pytest.mark.parametrize(("step", "status", "committed"), CRASHES, ids=str)
def test_a_sigkill_at_any_step_of_a_settle_loses_nothing_and_keeps_the_name_reserved(
    tmp_path: Path, receiver: Receiver, step: str, status: int, committed: bool
) -> None:
    receiver.status = status
    with emulator_process(tmp_path, env={"CLOUD_TASKS_EMULATOR_CRASH_AT": step}) as (
        process,
        target,
        _,
    ):
        client, channel = _client(target)
        queue = _queue(client, "q")
        name = f"{queue}/tasks/t"
        client.create_task(parent=queue, task={"name": name, "http_request": {"url": receiver.url}})
        assert process.wait(timeout=60) == -signal.SIGKILL
        assert process.stderr is not None
        assert "unknown variable" not in process.stderr.read()  # the hook is a known one
        channel.close()
    delivered = len(receiver.requests)
    assert delivered == (0 if step.startswith("dispatch/") else 1)
    receiver.status = 200
    receiver.hold()  # an attempt after the restart stays in flight while we look
    with emulator_process(tmp_path) as (_, target, http_url):
        client, channel = _client(target)
        if committed and status == 200:
            with pytest.raises(exceptions.NotFound) as gone:
                client.get_task(name=name)
            assert gone.value.message == errors.TASK_TOMBSTONED
        else:  # still there, with the outcomes that were committed
            task = client.get_task(name=name)
            assert task.response_count == (1 if committed else 0)
        receiver.release()
        requests.post(f"{http_url}/_emulator/wait-until-idle", json={"timeout": 30}, timeout=60)
        with pytest.raises(exceptions.NotFound):
            client.get_task(name=name)
        with pytest.raises(exceptions.AlreadyExists):
            client.create_task(
                parent=queue, task={"name": name, "http_request": {"url": receiver.url}}
            )
        channel.close()
    # At least once: delivered again unless its success was committed.
    assert len(receiver.requests) == delivered + (0 if committed and status == 200 else 1)


# -- another application's database is left byte for byte --------------------------------


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_another_applications_database_is_refused_and_left_byte_for_byte(
    tmp_path: Path, journal: str
) -> None:
    file = tmp_path / "state.sqlite3"
    with sqlite3.connect(file) as db:
        db.execute(f"PRAGMA journal_mode={journal}")
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
        db.executemany("INSERT INTO users (email) VALUES (?)", [("a@b.c",), ("d@e.f",)])
    db.close()
    before = file.read_bytes()
    ports = ("--port", "0", "--http-port", "0")
    result = subprocess.run(
        [sys.executable, "-m", "emulator", *ports, "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "holds a database of another application" in result.stderr
    assert "(state.sqlite3 has the tables users); it was left unchanged" in result.stderr
    assert file.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["state.sqlite3"]  # no -wal, no -shm
