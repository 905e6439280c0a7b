"""Names and request builders shared by the tests."""

from __future__ import annotations

from typing import Any

PROJECT = "test-project"
LOCATION = "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
TARGET_URL = "http://127.0.0.1:9/handler"  # discard port: nothing is dispatched here yet


def queue_path(queue_id: str, parent: str = PARENT) -> str:
    return f"{parent}/queues/{queue_id}"


def task_path(queue_id: str, task_id: str) -> str:
    return f"{queue_path(queue_id)}/tasks/{task_id}"


def http_task(url: str = TARGET_URL, **fields: Any) -> dict[str, Any]:
    """A task dict for the client: `http_request` entries merge into the request."""
    request: dict[str, Any] = {"url": url, **fields.pop("http_request", {})}
    return {"http_request": request, **fields}
