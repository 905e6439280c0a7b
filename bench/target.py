"""A delivery target for the benchmarks, in its own process: answers 200 to every request
and notes when each arrived, from which queue, and whether it carried every header Cloud
Tasks sends.

    python bench/target.py PORT

- `GET /_stats?count=N&timeout=S`: waits until N requests have arrived (at most S
  seconds), then answers `{"count", "first", "last", "queues": {queue: [arrival, ...]},
  "missing_headers", "lateness"}`; arrivals are monotonic seconds (the system's clock,
  the same in every process), lateness how long after its `X-CloudTasks-TaskETA` each
  request arrived (wall-clock seconds).
- `POST /_reset`: forget every arrival.
- Anything else is a delivery.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import defaultdict

from aiohttp import web

# What every HTTP-target attempt carries (the README's Delivery section).
EXPECTED = (
    "User-Agent",
    "X-CloudTasks-QueueName",
    "X-CloudTasks-TaskName",
    "X-CloudTasks-TaskRetryCount",
    "X-CloudTasks-TaskExecutionCount",
    "X-CloudTasks-TaskETA",
)


class Arrivals:
    def __init__(self) -> None:
        self.queues: dict[str, list[float]] = defaultdict(list)
        self.count = 0
        self.missing_headers = 0
        self.lateness: list[float] = []
        self.changed = asyncio.Event()

    async def deliver(self, request: web.Request) -> web.Response:
        await request.read()
        now = time.monotonic()
        headers = request.headers
        eta = headers.get("X-CloudTasks-TaskETA", "")
        if eta.replace(".", "", 1).isdigit():  # (the old Python emulator sends it empty)
            self.lateness.append(time.time() - float(eta))
        self.queues[headers.get("X-CloudTasks-QueueName", "")].append(now)
        self.count += 1
        if not all(name in headers for name in EXPECTED):
            self.missing_headers += 1
        self.changed.set()
        return web.Response(text="ok")

    async def stats(self, request: web.Request) -> web.Response:
        wanted = int(request.query.get("count", "0"))
        end = time.monotonic() + float(request.query.get("timeout", "0"))
        while self.count < wanted and time.monotonic() < end:
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), end - time.monotonic())
            except TimeoutError:
                break
        times = [t for arrivals in self.queues.values() for t in arrivals]
        return web.json_response(
            {
                "count": self.count,
                "first": min(times, default=0.0),
                "last": max(times, default=0.0),
                "queues": self.queues,
                "missing_headers": self.missing_headers,
                "lateness": self.lateness,
            }
        )

    async def reset(self, request: web.Request) -> web.Response:
        self.queues.clear()
        self.lateness.clear()
        self.count = self.missing_headers = 0
        return web.json_response({})


async def main(port: int) -> None:
    arrivals = Arrivals()
    app = web.Application()
    app.router.add_get("/_stats", arrivals.stats)
    app.router.add_post("/_reset", arrivals.reset)
    app.router.add_route("*", "/{tail:.*}", arrivals.deliver)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
