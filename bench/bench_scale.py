"""Scale: memory per queued task, and whether a million queued tasks slow anything down.

For each size (1,000 and `--large`, by default 1,000,000), a fresh `cloud-tasks-emulator`
process gets that many tasks with a 100-byte body, scheduled a day ahead (created with
BatchCreateTasks), in one queue. Then, with them waiting:

- memory: the process's resident memory per queued task (after minus before);
- create: CreateTask calls per second from one sequential client, in another queue;
- dispatch: a drain of 10 paused queues x 500 immediate tasks (bench/target.py answers),
  deliveries per second;
- first delivery: from a CreateTask call to the task's arrival at the target
  (median of 20), in a running queue;
- idle: with only the future tasks waiting, the process's CPU use over 10 seconds
  (a fraction of one core: there is no polling).

    python bench/bench_scale.py [--large 1000000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from bench_drain import _fill, _stats
from common import Served, Variant, target_process

PARENT = "projects/bench/locations/us-central1"
BATCH = 100


def _queue(client: Any, queue_id: str, *, paused: bool = False) -> str:
    name = f"{PARENT}/queues/{queue_id}"
    client.create_queue(parent=PARENT, queue={"name": name})
    if paused:
        client.pause_queue(name=name)
    return name


def _future_tasks(client: Any, queue: str, count: int) -> None:
    later = datetime.now(UTC) + timedelta(days=1)
    task = {
        "http_request": {"url": "http://127.0.0.1:9/later", "body": b"x" * 100},
        "schedule_time": later,
    }
    for start in range(0, count, BATCH):
        batch = [{"task": task}] * min(BATCH, count - start)
        client.batch_create_tasks(parent=queue, requests=batch).result()


def _create_rate(client: Any, queue: str, calls: int = 2000) -> float:
    task = {"http_request": {"url": "http://127.0.0.1:9/x", "body": b"x" * 100}}
    began = time.perf_counter()
    for _ in range(calls):
        client.create_task(parent=queue, task=task)
    return calls / (time.perf_counter() - began)


def _first_delivery_ms(client: Any, target: str, queue: str, samples: int = 20) -> float:
    times = []
    for _ in range(samples):
        requests.post(f"{target}/_reset", timeout=10)
        task = {"http_request": {"url": f"{target}/first", "body": b"x"}}
        called = time.monotonic()  # the target's arrival times are this same clock
        client.create_task(parent=queue, task=task)
        arrival = _stats(target, 1, timeout=30)["first"]
        times.append((arrival - called) * 1000)
    return statistics.median(times)


def measure(size: int) -> dict[str, float]:
    with target_process() as target, Variant("emulator").serve() as served:
        client = served.client()
        waiting = _queue(client, "waiting")
        time.sleep(0.5)
        before = served.rss_bytes()
        began = time.perf_counter()
        _future_tasks(client, waiting, size)
        filled = time.perf_counter() - began
        time.sleep(1.0)
        figures = {
            "bytes_per_task": (served.rss_bytes() - before) / size,
            "batch_create_per_s": size / filled,
            "create_per_s": _create_rate(client, _queue(client, "create", paused=True)),
            "first_delivery_ms": _first_delivery_ms(client, target, _queue(client, "first")),
            "idle_cpu_percent": _idle_cpu(served),
        }
        requests.post(f"{target}/_reset", timeout=10)
        names = _fill(client, target, 10, 500, 500)
        for name in names:
            client.resume_queue(name=name)
        stats = _stats(target, 5000)
        figures["dispatch_per_s"] = 5000 / (stats["last"] - stats["first"])
    return figures


def _idle_cpu(served: Served, seconds: float = 10.0) -> float:
    time.sleep(1.0)
    cpu, began = served.cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    return 100 * (served.cpu_seconds() - cpu) / (time.monotonic() - began)


def run(sizes: list[int]) -> dict[str, dict[str, float]]:
    return {str(size): measure(size) for size in sizes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    results = run([1000, args.large])
    small, large = results["1000"], results[str(args.large)]
    print(f"With 1,000 and {args.large:,} tasks queued (a day ahead), in its own process:")
    for key, label in [
        ("bytes_per_task", "memory per queued task, bytes"),
        ("batch_create_per_s", "BatchCreateTasks, tasks a second (filling)"),
        ("create_per_s", "CreateTask, calls a second (sequential)"),
        ("dispatch_per_s", "drain of 10 x 500 immediate tasks, a second"),
        ("first_delivery_ms", "CreateTask call to delivery, ms (median of 20)"),
        ("idle_cpu_percent", "idle CPU, % of a core"),
    ]:
        change = (large[key] / small[key] - 1) * 100 if small[key] else 0.0
        print(f"  {label:<52} {small[key]:10.1f} {large[key]:10.1f}  ({change:+.0f} %)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
