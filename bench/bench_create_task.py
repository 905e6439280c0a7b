"""CreateTask throughput: the emulator against a do-nothing gRPC server, in the same run.

Both servers run in this process, each on its own event loop thread, and are driven by
the same real clients: the sync client one call at a time, and the async client with 64
calls in flight. The baseline answers every CreateTask with a fixed Task and does no
work, so the ratio is the cost of the emulator itself (validation, store, conversion).

    python bench/bench_create_task.py [--sequential 2000] [--concurrent 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import (
    CloudTasksGrpcAsyncIOTransport,
    CloudTasksGrpcTransport,
)

from emulator.api import pb
from emulator.server import EmulatorServer
from emulator.settings import Settings

QUEUE = "projects/bench/locations/us-central1/queues/bench"
TASK = {"http_request": {"url": "http://127.0.0.1:9/handler", "body": b"x" * 256}}
IN_FLIGHT = 64


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()


async def start_null_server() -> tuple[grpc.aio.Server, str]:
    """A grpc.aio server whose CreateTask returns a fixed Task at once."""
    reply = pb.Task(name=f"{QUEUE}/tasks/1").SerializeToString()

    async def create_task(raw: bytes, context: Any) -> bytes:
        return bytes(reply)

    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "google.cloud.tasks.v2.CloudTasks",
                {"CreateTask": grpc.unary_unary_rpc_method_handler(create_task)},
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


def sequential(target: str, count: int) -> float:
    channel = grpc.insecure_channel(target)
    client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
    for _ in range(50):  # warm-up
        client.create_task(parent=QUEUE, task=TASK)
    start = time.perf_counter()
    for _ in range(count):
        client.create_task(parent=QUEUE, task=TASK)
    elapsed = time.perf_counter() - start
    channel.close()
    return count / elapsed


def concurrent(target: str, count: int) -> float:
    async def run() -> float:
        channel = grpc.aio.insecure_channel(target)
        client = tasks_v2.CloudTasksAsyncClient(
            transport=CloudTasksGrpcAsyncIOTransport(channel=channel)
        )
        remaining = count

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await client.create_task(parent=QUEUE, task=TASK)

        await asyncio.gather(*(client.create_task(parent=QUEUE, task=TASK) for _ in range(50)))
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        elapsed = time.perf_counter() - start
        await channel.close()
        return count / elapsed

    return asyncio.run(run())


def measure(name: str, fn: Callable[[str, int], float], targets: dict[str, str], n: int) -> None:
    rates = {label: fn(target, n) for label, target in targets.items()}
    emulator, baseline = rates["emulator"], rates["baseline"]
    print(
        f"{name:<28} emulator {emulator:8.0f}/s   do-nothing server {baseline:8.0f}/s   "
        f"ratio {emulator / baseline:5.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequential", type=int, default=2000, help="calls, one at a time")
    parser.add_argument("--concurrent", type=int, default=5000, help="calls, 64 in flight")
    args = parser.parse_args()

    emulator_loop, null_loop = LoopThread(), LoopThread()
    emulator = EmulatorServer(Settings(port=0, http_port=0))
    emulator_loop.run(emulator.start())
    client = tasks_v2.CloudTasksClient(
        transport=CloudTasksGrpcTransport(channel=grpc.insecure_channel(emulator.grpc_target))
    )
    client.create_queue(parent=QUEUE.rsplit("/queues/", 1)[0], queue={"name": QUEUE})
    client.pause_queue(name=QUEUE)  # measure CreateTask alone, not deliveries
    _, null_target = null_loop.run(start_null_server())
    targets = {"emulator": emulator.grpc_target, "baseline": null_target}

    body = len(TASK["http_request"]["body"])
    print(f"CreateTask, {body}-byte body, real google-cloud-tasks clients")
    measure("sync client, 1 in flight", sequential, targets, args.sequential)
    measure(f"async client, {IN_FLIGHT} in flight", concurrent, targets, args.concurrent)


if __name__ == "__main__":
    main()
