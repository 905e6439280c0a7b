"""Names and request builders shared by the tests."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


class Receiver:
    """A plain threaded HTTP target on 127.0.0.1 (no event loop): records every request
    and answers `status` (200 unless a test changes it)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.arrived:
                    receiver.requests.append(
                        {
                            "method": self.command,
                            "path": self.path,
                            "headers": dict(self.headers.items()),
                            "body": body,
                        }
                    )
                    receiver.arrived.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, count: int, timeout: float = 15) -> list[dict[str, Any]]:
        """The first `count` requests, once they have arrived."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{len(self.requests)} requests arrived, expected {count}")
            return list(self.requests[:count])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
