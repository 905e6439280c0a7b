"""`GET /metrics`: per-queue counters, gauges and histograms, scraped and parsed with the
Prometheus text parser, after deliveries driven through the real client."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import requests
from prometheus_client.parser import text_string_to_metric_families

from emulator import Emulator

from support import PROJECT, Client, Receiver, fast_retries, make_queue

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(emu: Emulator) -> tuple[Samples, dict[str, str]]:
    """Every sample by (name, labels), and every family's type."""
    response = requests.get(f"{emu.http_url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(response.text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, types


def of(queue: str) -> Callable[[str], tuple[str, tuple[tuple[str, str], ...]]]:
    labels = (("location", "us-central1"), ("project", PROJECT), ("queue", queue))
    return lambda name: (f"cloud_tasks_emulator_{name}", labels)


def test_counters_gauges_and_histograms_per_queue(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    receiver.responses = [503, 503]  # then 200: one task succeeds on its third attempt
    queue = make_queue(client, "m", **fast_retries())
    client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
    dropped = make_queue(client, "m-dropped", **fast_retries(max_attempts=1))
    client.create_task(parent=dropped.name, task={"http_request": {"url": "http://127.0.0.1:9/"}})
    waiting = make_queue(client, "m-waiting")
    for _ in range(3):
        client.create_task(
            parent=waiting.name,
            task={"http_request": {"url": receiver.url}, "schedule_time": emu.now + timedelta(1)},
        )
    emu.wait_for_attempts(4)
    samples, types = scrape(emu)
    m, d, w = of("m"), of("m-dropped"), of("m-waiting")
    assert samples[m("tasks_created_total")] == 1
    assert samples[m("tasks_dispatched_total")] == 3
    assert samples[m("tasks_retried_total")] == 2
    assert samples[m("tasks_succeeded_total")] == 1
    assert samples[m("tasks_dropped_total")] == 0
    assert samples[d("tasks_dropped_total")] == 1
    assert samples[w("tasks_created_total")] == 3
    assert samples[w("queue_depth")] == 3
    assert samples[w("tasks_dispatched_total")] == 0
    assert samples[m("queue_depth")] == 0
    assert samples[m("attempts_in_flight")] == 0
    assert samples[m("dispatch_latency_seconds_count")] == 3
    assert samples[m("dispatch_lateness_seconds_count")] == 3
    _, labels = m("")
    every = tuple(sorted((*labels, ("le", "+Inf"))))
    assert samples[("cloud_tasks_emulator_dispatch_latency_seconds_bucket", every)] == 3
    assert types["cloud_tasks_emulator_tasks_created"] == "counter"
    assert types["cloud_tasks_emulator_queue_depth"] == "gauge"
    assert types["cloud_tasks_emulator_dispatch_latency_seconds"] == "histogram"
    assert types["cloud_tasks_emulator_dispatch_lateness_seconds"] == "histogram"
    assert ("process_resident_memory_bytes", ()) in samples


def test_attempts_in_flight_are_a_gauge(client: Client, emu: Emulator, receiver: Receiver) -> None:
    receiver.hold()
    queue = make_queue(client, "held")
    for _ in range(2):
        client.create_task(parent=queue.name, task={"http_request": {"url": receiver.url}})
    receiver.wait_for(2)
    samples, _ = scrape(emu)
    assert samples[of("held")("attempts_in_flight")] == 2
    receiver.release()
    emu.wait_for_attempts(2)
    samples, _ = scrape(emu)
    assert samples[of("held")("attempts_in_flight")] == 0


def test_a_reset_or_deleted_queue_leaves_no_series(client: Client, emu: Emulator) -> None:
    queue = make_queue(client, "gone")
    client.delete_queue(name=queue.name)
    samples, _ = scrape(emu)
    assert not [key for key in samples if ("queue", "gone") in key[1]]
    info = [key for key in samples if key[0] == "cloud_tasks_emulator_info"]
    assert len(info) == 1


def test_openmetrics_when_asked(emu: Emulator) -> None:
    response = requests.get(
        f"{emu.http_url}/metrics",
        headers={"Accept": "application/openmetrics-text; version=1.0.0"},
        timeout=10,
    )
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")
