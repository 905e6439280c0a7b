"""The producer as it runs in production: it enqueues tasks for the worker's production
URL with an OIDC token, through an unmodified `CloudTasksClient()` (with this package
installed, CLOUD_TASKS_EMULATOR_HOST alone points it at the emulator).

It enqueues two tasks: one with the audience Cloud Run expects (the service URL), and one
that leaves the audience to its default, the task's full URL, here with a query string:
Cloud Run refuses that token with 401 before the worker sees the request. With `--check
EMULATOR_URL` it then waits for both outcomes through the emulator's /_emulator/attempts
and exits 0 if they are what production would do, 1 if not (docker-compose.yml, CI).

CLOUD_TASKS_EMULATOR_HOST=127.0.0.1:8124 python enqueue.py --check http://127.0.0.1:8124
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
import urllib.request
from typing import Any

from google.cloud import tasks_v2

QUEUE = "projects/my-project/locations/us-central1/queues/emails"
SERVICE_URL = "https://worker-xyz-uc.a.run.app"
INVOKER = "tasks@my-project.iam.gserviceaccount.com"


def enqueue(client: tasks_v2.CloudTasksClient, url: str, audience: str = "") -> str:
    """An email task for `url`, with an OIDC token of INVOKER (audience: `audience`, or by
    default the task's URL); its name."""
    token = {"service_account_email": INVOKER, "audience": audience}
    task = {"http_request": {"url": url, "body": b'{"to": "ada@example.com"}', "oidc_token": token}}
    return str(client.create_task(parent=QUEUE, task=task).name)


def enqueue_both(client: tasks_v2.CloudTasksClient) -> tuple[str, str]:
    good = enqueue(client, f"{SERVICE_URL}/tasks/email", audience=SERVICE_URL)
    refused = enqueue(client, f"{SERVICE_URL}/tasks/email?lang=fr")  # aud: the whole URL
    return good, refused


def attempts(emulator_url: str, task: str, count: int) -> list[dict[str, Any]]:
    """The first `count` settled attempts of `task` (waiting up to 60 s for them)."""
    query = urllib.parse.urlencode({"task": task, "min_count": count, "timeout": 60})
    with urllib.request.urlopen(f"{emulator_url}/_emulator/attempts?{query}", timeout=70) as r:
        return list(json.load(r)["attempts"])


def check(emulator_url: str, good: str, refused: str) -> list[str]:
    """What is not as production would have it (empty: all is)."""
    problems = []
    for count in range(1, 11):  # the worker may still be starting: retries until it answers
        tried = attempts(emulator_url, good, count)
        if tried[-1]["status"] == 200:
            break
    else:
        problems.append(f"the worker did not accept {good}: {tried[-1]}")
    first = attempts(emulator_url, refused, 1)[0]
    wanted = f"does not match the service URL {SERVICE_URL}"
    if first["status"] != 401 or wanted not in (first["error"] or ""):
        problems.append(f"{refused} was not refused 401 by the front door: {first}")
    return problems


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", metavar="EMULATOR_URL", help="wait for the outcomes, and judge")
    args = parser.parse_args()
    names = enqueue_both(tasks_v2.CloudTasksClient())
    print("enqueued", *names)
    if args.check:
        found = check(args.check, *names)
        print("\n".join(found) or "the worker accepted its task; the query-string one got 401")
        sys.exit(1 if found else 0)
