"""An example worker: the HTTP handlers Cloud Tasks calls.

python examples/worker.py --port 8080
"""

from __future__ import annotations

import argparse
import json
import logging

from aiohttp import web

RECEIVED = web.AppKey("received", list)
FAILURES_LEFT = web.AppKey("failures_left", dict)


async def send_email(request: web.Request) -> web.Response:
    """Handles /tasks/send-email: the task body is JSON {"to": ..., "subject": ...}."""
    payload = json.loads(await request.read())
    request.app[RECEIVED].append(
        {"payload": payload, "task": request.headers.get("X-CloudTasks-TaskName")}
    )
    logging.info("email to %s: %s", payload["to"], payload["subject"])
    return web.json_response({"sent": True})


async def flaky(request: web.Request) -> web.Response:
    """Handles /tasks/flaky: fails the first two attempts of each task, then succeeds."""
    task = request.headers["X-CloudTasks-TaskName"]
    left = request.app[FAILURES_LEFT].setdefault(task, 2)
    if left:
        request.app[FAILURES_LEFT][task] = left - 1
        return web.Response(status=503, text="try again")
    return web.Response(text="done")


def make_app() -> web.Application:
    app = web.Application()
    app[RECEIVED] = []
    app[FAILURES_LEFT] = {}
    app.router.add_post("/tasks/send-email", send_email)
    app.router.add_post("/tasks/flaky", flaky)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    web.run_app(make_app(), host=args.host, port=args.port)
