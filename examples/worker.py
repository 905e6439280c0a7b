"""An example worker: the HTTP handlers Cloud Tasks calls.

python examples/worker.py --port 8080
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal

from aiohttp import web

RECEIVED = web.AppKey("received", list)
FAILURES_LEFT = web.AppKey("failures_left", dict)


EXIT_AFTER = web.AppKey("exit_after", int)


async def send_email(request: web.Request) -> web.Response:
    """Handles /tasks/send-email: the task body is JSON {"to": ..., "subject": ...}."""
    payload = json.loads(await request.read())
    received = request.app[RECEIVED]
    received.append({"payload": payload, "task": request.headers.get("X-CloudTasks-TaskName")})
    logging.info("email to %s: %s", payload["to"], payload["subject"])
    if len(received) == request.app[EXIT_AFTER]:
        # Stop like Ctrl-C would, after this response is sent (docker compose demo).
        asyncio.get_running_loop().call_later(0.2, os.kill, os.getpid(), signal.SIGINT)
    return web.json_response({"sent": True})


async def flaky(request: web.Request) -> web.Response:
    """Handles /tasks/flaky: fails the first two attempts of each task, then succeeds."""
    task = request.headers["X-CloudTasks-TaskName"]
    left = request.app[FAILURES_LEFT].setdefault(task, 2)
    if left:
        request.app[FAILURES_LEFT][task] = left - 1
        return web.Response(status=503, text="try again")
    return web.Response(text="done")


def make_app(exit_after: int = 0) -> web.Application:
    app = web.Application()
    app[RECEIVED] = []
    app[EXIT_AFTER] = exit_after
    app[FAILURES_LEFT] = {}
    app.router.add_post("/tasks/send-email", send_email)
    app.router.add_post("/tasks/flaky", flaky)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--exit-after", type=int, default=0, help="exit after N emails")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    web.run_app(make_app(args.exit_after), host=args.host, port=args.port)
