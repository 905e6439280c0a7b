"""The dashboard's HTTP side, without a browser: what `/` answers to whom, the pages'
security headers, the live part alone, the script and style, and the event stream.
(tests/browser/ drives the pages themselves in Chromium.)"""

from __future__ import annotations

import requests
from answering import answering

from emulator import Emulator

from support import LOCATION, PROJECT, Client, make_queue


def test_the_root_is_the_dashboard_for_a_browser_and_json_for_others(emu: Emulator) -> None:
    page = requests.get(emu.http_url + "/", headers={"Accept": "text/html"}, timeout=10)
    assert page.headers["Content-Type"].startswith("text/html")
    assert "<title>Queues · Cloud Tasks emulator</title>" in page.text
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "default-src 'none'" in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    info = requests.get(emu.http_url + "/", timeout=10).json()
    assert info["service"] == "cloud-tasks-emulator"
    assert info["grpc"] == emu.grpc_target


def test_a_fragment_is_the_live_part_alone(grpc_client: Client, emu: Emulator) -> None:
    queue = make_queue(grpc_client, "frag")
    url = f"{emu.http_url}/ui/queues/{PROJECT}/{LOCATION}/frag"
    whole = requests.get(url, timeout=10).text
    part = requests.get(url, params={"fragment": "1"}, timeout=10).text
    assert whole.startswith("<!doctype html>")
    assert not part.lstrip().startswith("<!doctype")
    assert 'id="clock"' in part
    assert str(queue.name) in part
    assert "Create a task" in whole
    assert "Create a task" not in part  # the forms are outside the live part


def test_the_script_and_style_are_served_and_nothing_else(emu: Emulator) -> None:
    script = requests.get(emu.http_url + "/ui/static/app.js", timeout=10)
    assert script.headers["Content-Type"].startswith("text/javascript")
    assert "EventSource" in script.text
    style = requests.get(emu.http_url + "/ui/static/style.css", timeout=10)
    assert style.headers["Content-Type"].startswith("text/css")
    missing = requests.get(emu.http_url + "/ui/static/../../web.py", timeout=10)
    assert missing.status_code == 404
    assert missing.json()["error"]["status"] == "NOT_FOUND"


def test_the_event_stream_tells_of_each_change(grpc_client: Client, emu: Emulator) -> None:
    with requests.get(emu.http_url + "/ui/events", stream=True, timeout=10) as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        lines = (line for line in stream.iter_lines(decode_unicode=True) if line)
        assert next(lines) == "retry: 2000"
        make_queue(grpc_client, "evented")
        event = [next(lines) for _ in range(2)]
        assert event[0] == "event: change"
        assert event[1].startswith("data: ")


def test_the_task_page_shows_each_answer_escaped_and_cut(
    grpc_client: Client, emu: Emulator
) -> None:
    answer = b"<script>alert('answer')</script>" + b"z" * 2048
    queue = make_queue(grpc_client, "answered")
    with answering() as target:
        target.status, target.body, target.content_type = 500, answer, "text/html"
        grpc_client.create_task(
            parent=queue.name,
            task={"name": f"{queue.name}/tasks/t", "http_request": {"url": target.url}},
        )
        emu.wait_for_attempts(1)
    page = requests.get(
        f"{emu.http_url}/ui/queues/{PROJECT}/{LOCATION}/answered/tasks/t", timeout=10
    )
    assert "<script>alert" not in page.text
    shown = "&lt;script&gt;alert(&#39;answer&#39;)&lt;/script&gt;" + "z" * (1024 - 32)
    assert f'<pre class="answer-body">{shown}</pre>' in page.text  # the first 1,024 bytes
    assert "The answer's first 1024 bytes" in page.text
