"""What a user sees and does in the dashboard, in Chromium, against a live emulator."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta

from answering import answering
from google.api_core import exceptions
from google.cloud import tasks_v2
from playwright.sync_api import Page, expect

from emulator import Emulator

from support import (
    LOCATION,
    PARENT,
    PROJECT,
    Client,
    Receiver,
    duration,
    find_chromium,
    make_queue,
    queue_path,
)

find_chromium()  # without a browser, this module is skipped (one line saying how to get one)

Shoot = Callable[[str], None]


def ui_path(queue_id: str, task_id: str | None = None, location: str = LOCATION) -> str:
    path = f"/ui/queues/{PROJECT}/{location}/{queue_id}"
    return f"{path}/tasks/{task_id}" if task_id else path


def test_queues_and_tasks_appear_live(
    page: Page, emu: Emulator, client: Client, receiver: Receiver, shoot: Shoot
) -> None:
    page.goto(emu.http_url + "/")
    expect(page.get_by_text("No queues yet")).to_be_visible()
    page.evaluate("window.notReloaded = true")
    queue = make_queue(client, "emails", rate_limits={"max_dispatches_per_second": 7})
    row = page.locator(f'tr[data-queue="{queue.name}"]')
    expect(row).to_be_visible()  # no reload: the event stream brought it
    expect(row).to_contain_text("7/s")
    client.pause_queue(name=queue.name)
    for _ in range(3):
        client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
    expect(row.locator('[data-field="waiting"]')).to_have_text("3")
    expect(row).to_contain_text("PAUSED")
    assert page.evaluate("window.notReloaded") is True
    shoot("queues")


def test_pause_and_resume_go_through_the_api(page: Page, emu: Emulator, client: Client) -> None:
    queue = make_queue(client, "clicks")
    page.goto(emu.http_url + "/")
    row = page.locator(f'tr[data-queue="{queue.name}"]')
    row.get_by_role("button", name="Pause").click()
    expect(row).to_contain_text("PAUSED")
    assert client.get_queue(name=queue.name).state == tasks_v2.Queue.State.PAUSED
    row.get_by_role("button", name="Resume").click()
    expect(row).to_contain_text("RUNNING")
    assert client.get_queue(name=queue.name).state == tasks_v2.Queue.State.RUNNING


def test_a_failing_task_shows_its_attempts_and_next_retry(
    page: Page, emu: Emulator, client: Client, receiver: Receiver, shoot: Shoot
) -> None:
    receiver.status = 503
    queue = make_queue(
        client,
        "failing",
        retry_config={"min_backoff": duration(30), "max_backoff": duration(300), "max_attempts": 4},
    )
    task = client.create_task(
        parent=queue.name,
        task={
            "name": f"{queue.name}/tasks/flaky",
            "http_request": {"url": f"{receiver.url}/hook", "body": b'{"order": 42}'},
        },
    )
    emu.wait_for_attempts(1)
    page.goto(emu.http_url + ui_path("failing", "flaky"))
    timeline = page.locator("ol.timeline")
    expect(timeline).to_contain_text("Attempt 1")
    expect(timeline).to_contain_text("HTTP 503")
    expect(timeline).to_contain_text("min_backoff: 30s after the first failure")
    retried = client.get_task(name=task.name)
    next_at = retried.schedule_time.strftime("%Y-%m-%d %H:%M:%S.") + (
        f"{retried.schedule_time.microsecond // 1000:03d}"
    )
    expect(timeline).to_contain_text(f"Retry at {next_at}")
    expect(page.locator('[data-field="limits"]')).to_have_text(
        "stops after attempt 4 (max_attempts; 3 left)"
    )
    expect(page.locator("pre.body")).to_have_text('{\n  "order": 42\n}')  # pretty JSON
    expect(page.locator("p.request-line")).to_have_text(f"POST {receiver.url}/hook")
    shoot("task-retrying")
    emu.advance(30)  # the retry: the timeline grows live
    expect(timeline).to_contain_text("Attempt 2")
    expect(timeline).to_contain_text("doubling: 30s x 2^1 = 60s (max_doublings 16)")
    shoot("task-retried")


def test_the_queue_page_filters_and_pages(
    page: Page, emu: Emulator, client: Client, receiver: Receiver, shoot: Shoot
) -> None:
    queue = make_queue(client, "many")
    client.pause_queue(name=queue.name)
    later = emu.now + timedelta(hours=1)
    for i in range(60):
        task = {"name": f"{queue.name}/tasks/due-{i:02d}", "http_request": {"url": receiver.url}}
        client.create_task(parent=queue.name, task=task)
    for i in range(5):
        task = {
            "name": f"{queue.name}/tasks/later-{i}",
            "http_request": {"url": receiver.url},
            "schedule_time": later,
        }
        client.create_task(parent=queue.name, task=task)
    page.goto(emu.http_url + ui_path("many"))
    expect(page.locator("table.tasks tbody tr")).to_have_count(50)
    expect(page.get_by_text("page 1 of 2")).to_be_visible()
    shoot("queue")
    page.get_by_role("link", name="next ›").click()
    expect(page.locator("table.tasks tbody tr")).to_have_count(15)
    page.get_by_label("Show").select_option("scheduled")
    expect(page.locator("table.tasks tbody tr")).to_have_count(5)
    expect(page.locator("table.tasks")).to_contain_text("later-4")
    page.get_by_label("Show").select_option("due")
    page.get_by_label("Task id contains").fill("due-3")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.tasks tbody tr")).to_have_count(10)  # due-30 ... due-39


def test_actions_create_run_and_delete(
    page: Page, emu: Emulator, client: Client, receiver: Receiver
) -> None:
    queue = make_queue(client, "acts")
    client.pause_queue(name=queue.name)
    page.goto(emu.http_url + ui_path("acts"))
    page.get_by_text("Create a task").click()
    form = page.locator('form[data-form="create-task"]')
    form.get_by_label("URL").fill(f"{receiver.url}/made")
    form.get_by_label("Task id").fill("made-here")
    form.get_by_label("Headers").fill("X-From: dashboard")
    form.get_by_label("Body").fill("héllo")
    form.get_by_role("button", name="Create").click()
    row = page.locator('tr[data-task="made-here"]')
    expect(row).to_be_visible()
    made = client.get_task(
        request={"name": f"{queue.name}/tasks/made-here", "response_view": "FULL"}
    )
    assert made.http_request.headers["X-From"] == "dashboard"
    assert made.http_request.body == "héllo".encode()
    row.get_by_role("button", name="Run").click()  # RunTask, though the queue is paused
    (attempt,) = emu.wait_for_attempts(1)
    assert attempt.url == f"{receiver.url}/made"
    expect(row).to_have_count(0)  # it succeeded: gone from the page
    client.create_task(
        parent=queue.name,
        task={"name": f"{queue.name}/tasks/doomed", "http_request": {"url": receiver.url}},
    )
    doomed = page.locator('tr[data-task="doomed"]')
    doomed.get_by_role("button", name="Delete").click()
    expect(doomed).to_have_count(0)
    try:
        client.get_task(name=f"{queue.name}/tasks/doomed")
    except exceptions.NotFound:
        pass
    else:
        raise AssertionError("the task was not deleted")


def test_queue_actions_purge_and_delete(page: Page, emu: Emulator, client: Client) -> None:
    queue = make_queue(client, "doomed-queue")
    client.pause_queue(name=queue.name)
    client.create_task(parent=queue.name, task={"http_request": {"url": "http://127.0.0.1:9/"}})
    page.goto(emu.http_url + ui_path("doomed-queue"))
    page.get_by_role("button", name="Purge").click()
    expect(page.get_by_text("No task in this queue")).to_be_visible()
    assert list(client.list_tasks(parent=queue.name)) == []
    page.get_by_role("button", name="Delete").first.click()
    expect(page).to_have_url(emu.http_url + "/")
    assert queue.name not in [q.name for q in client.list_queues(parent=PARENT)]


def test_create_queue_advance_and_reset(page: Page, emu: Emulator, client: Client) -> None:
    page.goto(emu.http_url + "/")
    page.get_by_label("queue id").fill("typed")
    page.get_by_label("parent").fill(PARENT)
    page.get_by_role("button", name="Create").click()
    expect(page.locator(f'tr[data-queue="{queue_path("typed")}"]')).to_be_visible()
    assert client.get_queue(name=queue_path("typed")).name == queue_path("typed")
    before = emu.now
    page.get_by_label("seconds").fill("3600")
    page.get_by_role("button", name="Advance").click()
    expect(page.locator("#flash")).to_contain_text("The clock is now")
    assert emu.now - before >= timedelta(hours=1)
    expect(page.locator("#clock")).to_contain_text(re.compile(r"virtual clock, 1h( \d+s)? ahead"))
    page.get_by_role("button", name="Reset").click()
    expect(page.get_by_text("No queues yet")).to_be_visible()
    assert list(client.list_queues(parent=PARENT)) == []


def test_errors_from_the_api_are_shown(page: Page, emu: Emulator, client: Client) -> None:
    make_queue(client, "taken")
    page.goto(emu.http_url + "/")
    page.get_by_label("queue id").fill("taken")
    page.get_by_label("parent").fill(PARENT)
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#flash")).to_have_text("ALREADY_EXISTS: Queue already exists")


def test_everything_shown_is_escaped(
    page: Page, emu: Emulator, client: Client, receiver: Receiver
) -> None:
    hostile = '<img src=x onerror="document.title=1"><script>document.title=2</script>'
    queue = make_queue(client, "hostile")
    client.pause_queue(name=queue.name)
    client.create_task(
        parent=queue.name,
        task={
            "name": f"{queue.name}/tasks/h",
            "http_request": {
                "url": f"{receiver.url}/x?q=<b>",
                "headers": {"X-Hostile": hostile},
                "body": hostile.encode(),
            },
        },
    )
    for path in (ui_path("hostile"), ui_path("hostile", "h")):
        page.goto(emu.http_url + path)
        expect(page.locator("main")).to_be_visible()
    expect(page.locator("table.headers")).to_contain_text(hostile)  # shown as text
    expect(page.locator("pre.body")).to_have_text(hostile)
    assert page.locator("main img, main script").count() == 0
    assert page.title() == "h · Cloud Tasks emulator"


def test_an_unknown_queue_or_task_is_a_page_that_says_so(page: Page, emu: Emulator) -> None:
    response = page.goto(emu.http_url + ui_path("missing"))
    assert response is not None
    assert response.status == 404
    expect(page.get_by_text("No such queue.")).to_be_visible()


# A long task id, queue id and location, as real apps make them.
LONG_TASK = "order-2024-11-05-customer-8c1f5e2a-4b7d-4e0f-9a3b-1d2c3e4f5a6b-thumbnail-regeneration"
LONG_QUEUE = "image-thumbnail-generation-high-priority"
LONG_LOCATION = "northamerica-northeast1"
# A handler's answer that is markup, longer than the 1 KiB an attempt keeps, with a
# two-byte character across the cut (kept: its first byte, shown as U+FFFD).
HOSTILE = b'<img src=x onerror="document.title=1"><script>document.title=2</script>'
ANSWER = HOSTILE + b"x" * (1023 - len(HOSTILE)) + "é".encode() + b"y" * 1024


def test_a_laptop_screen_keeps_names_whole_and_shows_each_answer_escaped(
    page: Page, emu: Emulator, client: Client, shoot: Shoot
) -> None:
    for location in (LOCATION, LONG_LOCATION, "europe-southwest1"):
        parent = f"projects/{PROJECT}/locations/{location}"
        for queue_id in ("emails", LONG_QUEUE):
            config = {"max_attempts": 5, "min_backoff": duration(10)}
            client.create_queue(
                parent=parent,
                queue={"name": f"{parent}/queues/{queue_id}", "retry_config": config},
            )
    queue = f"projects/{PROJECT}/locations/{LONG_LOCATION}/queues/{LONG_QUEUE}"
    client.pause_queue(name=f"{PARENT}/queues/emails")
    items = [{"sku": f"SKU-{i:04d}", "quantity": i, "note": "gift wrap " * 4} for i in range(60)]
    body = json.dumps({"order": 42, "items": items}).encode()
    with answering() as target:
        target.status, target.body = 503, ANSWER
        for i in range(3):
            client.create_task(
                parent=queue,
                task={
                    "name": f"{queue}/tasks/{LONG_TASK}-{i}",
                    "http_request": {
                        "url": f"{target.url}/handlers/regenerate-thumbnails",
                        "headers": {"Content-Type": "application/json", "X-Trace": "a" * 120},
                        "body": body,
                    },
                },
            )
        emu.wait_for_attempts(3)
        emu.advance(10)  # each task's second attempt
        emu.wait_for_attempts(6)

    page.goto(emu.http_url + "/")
    expect(page.locator(f'tr[data-queue="{queue}"]')).to_contain_text(LONG_LOCATION)
    shoot("laptop-queues")
    page.goto(emu.http_url + ui_path(LONG_QUEUE, location=LONG_LOCATION))
    expect(page.locator("table.tasks tbody tr")).to_have_count(3)
    shoot("laptop-queue")

    page.goto(emu.http_url + ui_path(LONG_QUEUE, f"{LONG_TASK}-0", location=LONG_LOCATION))
    answers = page.locator("ol.timeline pre.answer-body")
    expect(answers).to_have_count(2)
    shown = ANSWER[:1024].decode("utf-8", "replace")
    assert shown.endswith("\ufffd")
    assert answers.first.text_content() == shown  # as text: escaped, cut at 1,024 bytes
    expect(page.locator("ol.timeline")).to_contain_text("The answer's first 1024 bytes")
    assert page.locator("main img, main script").count() == 0
    assert page.title() == f"{LONG_TASK}-0 · Cloud Tasks emulator"
    shoot("laptop-task")
