"""The soak benchmark's target: fails a share of attempts at random (500) and records every
request it receives, in its own process.

    python bench/soak_target.py PORT [--fail-rate 0.2] [--seed 1]

Every request is recorded as it arrives (before it is answered), in arrival order, as
`[queue, task, retry_count, status, wall_time]`: the queue and task from the
`X-CloudTasks-QueueName` / `X-CloudTasks-TaskName` headers, the retry count from
`X-CloudTasks-TaskRetryCount`, the status this target answered (200 or 500) and the
wall-clock time it arrived (`time.time()`, comparable with the benchmark's own).

- `GET /stats`: `{"requests": N, "failures": N, "succeeded": N}` (tasks with a 200).
- `GET /report`: `{"records": [...]}`, every record so far.
- Anything else is an attempt: answered 500 with probability `--fail-rate`, else 200.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

from aiohttp import web


class Recorder:
    def __init__(self, fail_rate: float, seed: int) -> None:
        self.fail_rate = fail_rate
        self.random = random.Random(seed)
        self.records: list[tuple[str, str, int, int, float]] = []
        self.failures = 0
        self.succeeded: set[tuple[str, str]] = set()

    async def attempt(self, request: web.Request) -> web.Response:
        await request.read()
        headers = request.headers
        queue = headers.get("X-CloudTasks-QueueName", "")
        task = headers.get("X-CloudTasks-TaskName", "")
        retry = int(headers.get("X-CloudTasks-TaskRetryCount", "-1"))
        status = 500 if self.random.random() < self.fail_rate else 200
        self.records.append((queue, task, retry, status, time.time()))
        if status == 200:
            self.succeeded.add((queue, task))
        else:
            self.failures += 1
        return web.Response(status=status, text="ok" if status == 200 else "injected failure")

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "requests": len(self.records),
                "failures": self.failures,
                "succeeded": len(self.succeeded),
            }
        )

    async def report(self, request: web.Request) -> web.Response:
        return web.json_response({"records": self.records})


async def main(port: int, fail_rate: float, seed: int) -> None:
    recorder = Recorder(fail_rate, seed)
    app = web.Application()
    app.router.add_get("/stats", recorder.stats)
    app.router.add_get("/report", recorder.report)
    app.router.add_route("*", "/{tail:.*}", recorder.attempt)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--fail-rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(main(args.port, args.fail_rate, args.seed))
