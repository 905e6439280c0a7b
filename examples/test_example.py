"""Testing a Cloud Tasks producer and its worker with the pytest plugin's fixtures.

The fixtures `cloud_tasks_emulator`, `cloud_tasks_client` and `cloud_tasks_queue` come
with the package; only the worker needs a fixture of its own here. The worker is an
aiohttp app, so the tests are async: it serves on the test's own event loop while the
test awaits the emulator (`aadvance`, `await_until_idle`, `await_attempts`).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp import web
from producer import enqueue_email
from worker import RECEIVED, make_app


@pytest.fixture
async def worker() -> AsyncIterator[tuple[str, web.Application]]:
    """The example worker on a free port: its URL and its app."""
    app = make_app()
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", app
    await runner.cleanup()


async def test_task_is_delivered_with_its_payload(
    cloud_tasks_emulator, cloud_tasks_client, cloud_tasks_queue, worker
) -> None:
    url, app = worker
    queue = cloud_tasks_queue("emails")
    task = enqueue_email(cloud_tasks_client, queue, url, to="ada@example.com", subject="Welcome")
    await cloud_tasks_emulator.await_until_idle()
    assert app[RECEIVED] == [
        {
            "payload": {"to": "ada@example.com", "subject": "Welcome"},
            "task": task.name.rsplit("/", 1)[1],
        }
    ]


async def test_task_scheduled_a_day_ahead_fires_after_advancing_the_clock(
    cloud_tasks_emulator, cloud_tasks_client, cloud_tasks_queue, worker
) -> None:
    url, app = worker
    queue = cloud_tasks_queue("reminders")
    tomorrow = cloud_tasks_emulator.now + timedelta(hours=24)
    enqueue_email(
        cloud_tasks_client, queue, url, to="ada@example.com", subject="Reminder", at=tomorrow
    )
    await cloud_tasks_emulator.await_until_idle()
    assert app[RECEIVED] == []  # not due yet

    await cloud_tasks_emulator.aadvance(timedelta(hours=24))

    assert [r["payload"]["subject"] for r in app[RECEIVED]] == ["Reminder"]
    (attempt,) = await cloud_tasks_emulator.await_attempts(1, queue=queue)
    assert attempt.dispatch_time >= tomorrow


async def test_failing_handler_is_retried_on_the_backoff_schedule(
    cloud_tasks_emulator, cloud_tasks_client, cloud_tasks_queue, worker
) -> None:
    url, _ = worker
    queue = cloud_tasks_queue(
        "flaky",
        retry_config={"min_backoff": timedelta(seconds=5), "max_backoff": timedelta(minutes=5)},
    )
    task = cloud_tasks_client.create_task(
        parent=queue, task={"http_request": {"url": f"{url}/tasks/flaky"}}
    )

    await cloud_tasks_emulator.aadvance(timedelta(minutes=1))

    attempts = await cloud_tasks_emulator.await_attempts(3, task=task.name)
    assert [a.status for a in attempts] == [503, 503, 200]
    # Each retry was due exactly min_backoff * 2^(n-1) after the failure before it.
    waits = [b.schedule_time - a.response_time for a, b in itertools.pairwise(attempts)]
    assert waits == [timedelta(seconds=5), timedelta(seconds=10)]
    assert [a.headers["X-CloudTasks-TaskRetryCount"] for a in attempts] == ["0", "1", "2"]
