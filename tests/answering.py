"""A target that answers with a body (support.Receiver answers with none): for the tests
of what an attempt keeps of the answer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Answering(ThreadingHTTPServer):
    """A threaded target on 127.0.0.1 that answers every request with `status`, `body`
    and `content_type`."""

    daemon_threads = True

    def __init__(self) -> None:
        self.status = 200
        self.body = b""
        self.content_type = "text/plain"
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(server.status)
                self.send_header("Content-Type", server.content_type)
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/answer"

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # an emulator that stops reading a huge answer closes the connection

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


@contextmanager
def answering() -> Iterator[Answering]:
    server = Answering()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop()
        thread.join()
