"""The dashboard with a big queue: how long its pages take to render.

Starts `cloud-tasks-emulator` as its own process, fills one paused queue with `--tasks`
tasks (BatchCreateTasks; a tenth of them scheduled an hour ahead, so the filters have
something to sort), and times each page over `--runs` requests: the queues page, the
queue page's first and last page, with a state filter, with a search, by next attempt,
a task page, and the live fragment the page fetches on each change.

    python bench/bench_dashboard.py [--tasks 100000] [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

import requests
from common import emulator_process

PARENT = "projects/bench/locations/us-central1"
BATCH = 100


def fill(emulator_client: object, queue: str, tasks: int) -> None:
    client = emulator_client
    later = datetime.now(UTC) + timedelta(hours=1)
    for start in range(0, tasks, BATCH):
        batch = []
        for number in range(start, min(start + BATCH, tasks)):
            task = {
                "name": f"{queue}/tasks/t{number:07d}",
                "http_request": {"url": "http://127.0.0.1:9/x", "body": b"x" * 100},
            }
            if number % 10 == 0:
                task["schedule_time"] = later
            batch.append({"task": task})
        client.batch_create_tasks(parent=queue, requests=batch).result()  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with emulator_process() as emulator:
        client = emulator.client()
        queue = f"{PARENT}/queues/big"
        client.create_queue(parent=PARENT, queue={"name": queue})
        client.pause_queue(name=queue)
        began = time.perf_counter()
        fill(client, queue, args.tasks)
        print(f"{args.tasks} tasks created in {time.perf_counter() - began:.1f} s")
        base = f"{emulator.http_url}/ui/queues/bench/us-central1/big"
        last = -(-args.tasks // 50)
        pages = {
            "queues page": f"{emulator.http_url}/",
            "queue, first page": base,
            "queue, last page": f"{base}?page={last}",
            "queue, filter scheduled": f"{base}?filter=scheduled",
            "queue, search t00099": f"{base}?q=t00099",
            "queue, next attempt first": f"{base}?order=next",
            "queue, live fragment": f"{base}?fragment=1",
            "task page": f"{base}/tasks/t0000001",
        }
        print(f"page render, median (max) of {args.runs}, with {args.tasks} tasks in the queue:")
        for label, url in pages.items():
            times = []
            for _ in range(args.runs):
                began = time.perf_counter()
                response = requests.get(url, headers={"Accept": "text/html"}, timeout=60)
                times.append(time.perf_counter() - began)
                response.raise_for_status()
            print(
                f"  {label:<28} {statistics.median(times) * 1000:7.1f} ms "
                f"({max(times) * 1000:.1f} ms)"
            )


if __name__ == "__main__":
    main()
