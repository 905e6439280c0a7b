"""An example producer: enqueues tasks for the worker with the real Cloud Tasks client.

It is an unmodified app: `CloudTasksClient()` with no arguments, as in production. With
this package installed, `CLOUD_TASKS_EMULATOR_HOST` alone points it at the emulator:

CLOUD_TASKS_EMULATOR_HOST=127.0.0.1:8124 python examples/producer.py --worker http://127.0.0.1:8080
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime

from google.api_core.exceptions import NotFound
from google.cloud import tasks_v2


def enqueue_email(
    client: tasks_v2.CloudTasksClient,
    queue: str,
    worker_url: str,
    *,
    to: str,
    subject: str,
    at: datetime | None = None,
) -> tasks_v2.Task:
    task: dict = {
        "http_request": {
            "url": f"{worker_url}/tasks/send-email",
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"to": to, "subject": subject}).encode(),
        }
    }
    if at is not None:
        task["schedule_time"] = at
    return client.create_task(parent=queue, task=task)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", default="http://127.0.0.1:8080")
    parser.add_argument(
        "--queue", default="projects/local-project/locations/us-central1/queues/emails"
    )
    args = parser.parse_args()
    client = tasks_v2.CloudTasksClient()
    try:
        client.get_queue(name=args.queue)
    except NotFound:
        client.create_queue(parent=args.queue.rsplit("/queues/", 1)[0], queue={"name": args.queue})
    task = enqueue_email(client, args.queue, args.worker, to="ada@example.com", subject="Hi")
    print(f"enqueued {task.name}")
