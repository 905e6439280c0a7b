"""CreateTask throughput: each server in its own process, the client in this one.

Each run starts every server afresh, in turn (A B A B ...): the emulator as users start it
(`cloud-tasks-emulator`), the do-nothing baselines (bench/null_server.py: a grpc.aio
server and an aiohttp app answering a canned task of the same shape), and any variant
asked for. Against each, on a paused queue (nothing is delivered meanwhile):

- sync: one sequential `CloudTasksClient`;
- stub1: a bare sync gRPC stub with a pre-serialized request, sequential (the server's
  cost a call, with the least client work);
- threads8: one `CloudTasksClient` shared by 8 threads;
- async64: `CloudTasksAsyncClient`, 64 calls in flight;
- stub64: a bare grpc.aio stub with a pre-serialized request, 64 in flight (the server's
  cost alone);
- rest: one sequential REST `CloudTasksClient` (servers with REST only).

    python bench/bench_create_task.py [--runs 5] [--calls 3000] [--modes sync,rest]
        [--variant NAME=FLAGS] [--src NAME=PATH] [--peer] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
from common import Served, Variant, add_variant_arguments, emulator_variants, summary
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcAsyncIOTransport
from google.cloud.tasks_v2.types import cloudtasks, task

PARENT = "projects/bench/locations/us-central1"
BODY = b"x" * 100
MODES = ("sync", "stub1", "threads8", "async64", "stub64", "rest")
THREADS = 8
NULL = "do-nothing server"


def _request(queue: str) -> dict[str, object]:
    return {
        "parent": queue,
        "task": {"http_request": {"url": "http://127.0.0.1:9/x", "body": BODY}},
    }


def _setup(client: tasks_v2.CloudTasksClient, queue_id: str) -> str:
    name = f"{PARENT}/queues/{queue_id}"
    client.create_queue(parent=PARENT, queue={"name": name})
    client.pause_queue(name=name)
    return name


def _repeat(calls: int, client: tasks_v2.CloudTasksClient, queue: str) -> None:
    for _ in range(calls):
        client.create_task(request=_request(queue))


def _timed(calls: int, run: Callable[[], None]) -> float:
    began = time.perf_counter()
    run()
    return calls / (time.perf_counter() - began)


def measure(served: Served, calls: int, modes: tuple[str, ...] = MODES) -> dict[str, float]:
    """CreateTask calls per second against `served`, for each mode it can take."""
    client = served.client()
    rates: dict[str, float] = {}
    queue = _setup(client, "warm")
    for _ in range(50):
        client.create_task(request=_request(queue))
    if "sync" in modes:
        queue = _setup(client, "sync")
        rates["sync"] = _timed(calls, lambda: _repeat(calls, client, queue))
    if "stub1" in modes:
        queue = _setup(client, "stub1")
        rates["stub1"] = _stub_sequential_rate(served.grpc_target, queue, calls)
    if "threads8" in modes:
        queue = _setup(client, "threads")
        count = calls // THREADS * THREADS
        rates["threads8"] = _timed(count, lambda: _threads(count, client, queue))
    if "async64" in modes:
        queue = _setup(client, "async")
        rates["async64"] = asyncio.run(_async_rate(served.grpc_target, queue, calls))
    if "stub64" in modes:
        queue = _setup(client, "stub")
        rates["stub64"] = asyncio.run(_stub_rate(served.grpc_target, queue, calls))
    if "rest" in modes and served.http_url is not None:
        rest = tasks_v2.CloudTasksClient(
            transport="rest",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options=ClientOptions(api_endpoint=served.http_url),
        )
        queue = _setup(client, "rest")
        count = calls // 2
        rates["rest"] = _timed(count, lambda: _repeat(count, rest, queue))
    return rates


def _threads(calls: int, client: tasks_v2.CloudTasksClient, queue: str) -> None:
    workers = [
        threading.Thread(target=_repeat, args=(calls // THREADS, client, queue))
        for _ in range(THREADS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def _stub_sequential_rate(target: str, queue: str, calls: int) -> float:
    raw = cloudtasks.CreateTaskRequest.serialize(cloudtasks.CreateTaskRequest(_request(queue)))
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(
            "/google.cloud.tasks.v2.CloudTasks/CreateTask",
            request_serializer=lambda b: b,
            response_deserializer=task.Task.pb().FromString,
        )

        def repeat() -> None:
            for _ in range(calls):
                call(raw)

        return _timed(calls, repeat)


async def _in_flight(calls: int, one: Callable[[], Awaitable[Any]], width: int = 64) -> float:
    remaining = calls

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(width)))
    return calls / (time.perf_counter() - began)


async def _async_rate(target: str, queue: str, calls: int) -> float:
    channel = grpc.aio.insecure_channel(target)
    client = tasks_v2.CloudTasksAsyncClient(
        transport=CloudTasksGrpcAsyncIOTransport(channel=channel)
    )
    rate = await _in_flight(calls, lambda: client.create_task(request=_request(queue)))
    await channel.close()
    return rate


async def _stub_rate(target: str, queue: str, calls: int) -> float:
    channel = grpc.aio.insecure_channel(target)
    raw = cloudtasks.CreateTaskRequest.serialize(cloudtasks.CreateTaskRequest(_request(queue)))
    call = channel.unary_unary(
        "/google.cloud.tasks.v2.CloudTasks/CreateTask",
        request_serializer=lambda b: b,
        response_deserializer=task.Task.pb().FromString,
    )
    rate = await _in_flight(calls, lambda: call(raw))
    await channel.close()
    return rate


def run(
    variants: list[Variant], runs: int, calls: int, modes: tuple[str, ...] = MODES
) -> dict[str, dict[str, list[float]]]:
    """Rates of every variant and the do-nothing baseline, runs interleaved."""
    everyone = [*variants, Variant(NULL, kind="null")]
    results: dict[str, dict[str, list[float]]] = {v.name: {} for v in everyone}
    for _ in range(runs):
        for variant in everyone:
            with variant.serve() as served:
                for mode, rate in measure(served, calls, modes).items():
                    results[variant.name].setdefault(mode, []).append(rate)
    return results


def report(results: dict[str, dict[str, list[float]]]) -> None:
    base = results[NULL]
    for name, figures in results.items():
        cells = []
        for mode, rates in figures.items():
            ratio = statistics.median(rates) / statistics.median(base[mode])
            cells.append(f"{mode} {summary(rates)} ({ratio:.2f}× null)")
        print(f"  {name:<24} " + "; ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--modes", default=",".join(MODES), help="of " + ", ".join(MODES))
    parser.add_argument("--json", metavar="FILE")
    add_variant_arguments(parser)
    args = parser.parse_args()
    results = run(emulator_variants(args), args.runs, args.calls, tuple(args.modes.split(",")))
    print(f"CreateTask per second, median (min–max) of {args.runs} interleaved runs:")
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
