"""Dispatcher figures: throughput, rate accuracy and lateness, on this machine, in one run.

1. Deliveries per second to a local aiohttp target (a separate process), from queues with
   the highest rate the API allows, beside a bare aiohttp client POSTing to the same target
   with the same number of requests in flight.
2. The measured dispatch rate of queues configured at 50/s and 500/s.
3. Lateness of scheduled tasks: dispatch time minus schedule time (p50/p99/max).

    python bench/bench_dispatch.py [--tasks 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import statistics
import threading
import time
from datetime import timedelta
from typing import Any

import aiohttp
import grpc
from aiohttp import web
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from emulator.server import EmulatorServer
from emulator.settings import Settings

PARENT = "projects/bench/locations/us-central1"
IN_FLIGHT = 100


def serve_target(port_out: Any) -> None:
    """The target: answers 200 to everything (runs in its own process)."""

    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="ok")

    async def main() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", ok)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_out.send(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


class Emulator:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.server = EmulatorServer(Settings(port=0, http_port=0, log_level="warning"))
        self.run(self.server.start())
        channel = grpc.insecure_channel(self.server.grpc_target)
        self.client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def call(self, fn: Any) -> Any:
        async def run() -> Any:
            return fn()

        return self.run(run())

    def queue(self, queue_id: str, rate: float, concurrency: int = 1000) -> str:
        name = f"{PARENT}/queues/{queue_id}"
        self.client.create_queue(
            parent=PARENT,
            queue={
                "name": name,
                "rate_limits": {
                    "max_dispatches_per_second": rate,
                    "max_concurrent_dispatches": concurrency,
                },
            },
        )
        self.client.pause_queue(name=name)
        return name

    def wait_delivered(self, count: int) -> None:
        while self.call(lambda: len(self.server.store.history)) < count or self.call(
            lambda: any(e.response_time is None for e in self.server.store.history)
        ):
            time.sleep(0.01)  # a benchmark may poll; tests may not

    def history(self) -> list[Any]:
        return list(self.call(lambda: list(self.server.store.history)))

    def reset(self) -> None:
        self.call(self.server.store.reset)


def throughput(emulator: Emulator, url: str, count: int) -> None:
    # 20 queues at the API's highest rate, 5 attempts each in flight: 100 in all, as the
    # bare client has.
    queues = [emulator.queue(f"fast-{i}", rate=500, concurrency=IN_FLIGHT // 20) for i in range(20)]
    for i in range(count):
        emulator.client.create_task(
            parent=queues[i % len(queues)], task={"http_request": {"url": url, "body": b"x" * 64}}
        )
    for name in queues:
        emulator.client.resume_queue(name=name)
    emulator.wait_delivered(count)
    history = emulator.history()
    span = max(e.response_time for e in history) - min(e.dispatch_time for e in history)
    emulated = count / span.total_seconds()

    async def bare() -> float:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            remaining = count

            async def worker() -> None:
                nonlocal remaining
                while remaining > 0:
                    remaining -= 1
                    async with session.post(url, data=b"x" * 64) as response:
                        await response.read()

            began = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
            return count / (time.perf_counter() - began)

    baseline = asyncio.run(bare())
    print(
        f"deliveries/s: emulator {emulated:7.0f}   bare aiohttp client ({IN_FLIGHT} in flight) "
        f"{baseline:7.0f}   ratio {emulated / baseline:.2f}"
    )
    emulator.reset()


def rate_accuracy(emulator: Emulator, url: str, rate: float, seconds: float) -> None:
    name = emulator.queue(f"rate-{int(rate)}", rate=rate)
    burst = emulator.client.get_queue(name=name).rate_limits.max_burst_size
    count = int(burst + rate * seconds)
    for _ in range(count):
        emulator.client.create_task(parent=name, task={"http_request": {"url": url}})
    emulator.client.resume_queue(name=name)
    emulator.wait_delivered(count)
    times = sorted(e.dispatch_time for e in emulator.history())
    steady = times[burst:]  # after the initial burst the bucket refills at the rate
    measured = (len(steady) - 1) / (steady[-1] - steady[0]).total_seconds()
    print(
        f"rate {rate:5.0f}/s (burst {burst:3d}): measured {measured:7.2f}/s over {count} tasks "
        f"({100 * (measured - rate) / rate:+.2f}%)"
    )
    emulator.reset()


def lateness(emulator: Emulator, url: str, count: int) -> None:
    name = emulator.queue("late", rate=500)
    emulator.client.resume_queue(name=name)
    now = emulator.server.clock.now()
    for _ in range(count):
        when = now + timedelta(seconds=1 + random.random() * 3)
        emulator.client.create_task(
            parent=name, task={"http_request": {"url": url}, "schedule_time": when}
        )
    emulator.wait_delivered(count)
    history = emulator.history()
    late = sorted((e.dispatch_time - e.schedule_time).total_seconds() * 1000 for e in history)
    p50 = statistics.median(late)
    p99 = late[int(len(late) * 0.99) - 1]
    print(
        f"lateness of {count} scheduled tasks (1-4 s ahead): p50 {p50:.2f} ms, "
        f"p99 {p99:.2f} ms, max {late[-1]:.2f} ms"
    )
    emulator.reset()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=5000, help="tasks for the throughput run")
    args = parser.parse_args()

    receive, send = multiprocessing.Pipe(duplex=False)
    target = multiprocessing.Process(target=serve_target, args=(send,), daemon=True)
    target.start()
    url = f"http://127.0.0.1:{receive.recv()}/work"
    emulator = Emulator()
    try:
        throughput(emulator, url, args.tasks)
        rate_accuracy(emulator, url, rate=50, seconds=4)
        rate_accuracy(emulator, url, rate=500, seconds=4)
        lateness(emulator, url, count=500)
    finally:
        target.terminate()


if __name__ == "__main__":
    main()
