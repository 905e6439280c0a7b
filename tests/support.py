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
    """A plain threaded HTTP target on 127.0.0.1 (no event loop) that records every request.

    - `responses` scripts the answers in order: an int status, or (status, headers); when
      it runs out every request gets `status` (200).
    - `hold()` makes handlers wait (attempts stay in flight) until `release()`.
    - `/redirect/N` answers 302 to `/redirect/N-1`, and `/redirect/1` to `/done`.
    - `in_flight` and `max_in_flight` count requests being handled.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.responses: list[int | tuple[int, dict[str, str]]] = []
        self.status = 200
        self.in_flight = 0
        self.max_in_flight = 0
        self.arrived = threading.Condition()
        self._gate = threading.Event()
        self._gate.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.arrived:
                    receiver.requests.append(
                        {
                            "method": self.command,
                            "path": self.path,
                            "headers": dict(self.headers.items()),
                            "raw_headers": list(self.headers.items()),
                            "body": body,
                        }
                    )
                    receiver.in_flight += 1
                    receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
                    receiver.arrived.notify_all()
                try:
                    status, headers = receiver._answer(self.path)
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                finally:
                    with receiver.arrived:
                        receiver.in_flight -= 1

            do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _answer(self, path: str) -> tuple[int, dict[str, str]]:
        if path.startswith("/redirect/"):
            hops = int(path.rsplit("/", 1)[1])
            return 302, {"Location": f"/redirect/{hops - 1}" if hops > 1 else "/done"}
        self._gate.wait()
        with self.arrived:
            answer = self.responses.pop(0) if self.responses else self.status
        return answer if isinstance(answer, tuple) else (answer, {})

    def hold(self) -> None:
        """Keep every request waiting for its answer until `release()`."""
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def wait_for(self, count: int, timeout: float = 15) -> list[dict[str, Any]]:
        """The first `count` requests, once they have arrived."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{len(self.requests)} requests arrived, expected {count}")
            return list(self.requests[:count])

    def close(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
