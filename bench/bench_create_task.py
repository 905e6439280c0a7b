"""CreateTask throughput, with the server in its own process and the client in this one.

Each run starts every server afresh, in turn (A B A B ...): the emulator as users start it
(`python -m emulator`, in memory unless flags say otherwise), and the do-nothing grpc.aio
baseline (`bench/null_server.py`). Against each it measures, on a paused queue so nothing
is delivered meanwhile:

- sync: one sequential `CloudTasksClient`;
- async64: `CloudTasksAsyncClient`, 64 calls in flight;
- stub64: a bare grpc.aio stub with a pre-serialized request, 64 in flight (server cost);
- rest: one sequential REST `CloudTasksClient` (against the null aiohttp route for the
  baseline).

    python bench/bench_create_task.py [--runs 3] [--calls 2000]
        [--variant NAME=FLAGS ...] [--src NAME=PATH ...] [--json out.json]

`--variant data-dir="--data-dir {tmp}"` adds an emulator started with those flags ({tmp}:
a new empty directory each start);
`--src before=/path/to/old/checkout` adds one run from another checkout's sources.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import grpc
from common import Variant, summary
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import (
    CloudTasksGrpcAsyncIOTransport,
    CloudTasksGrpcTransport,
)
from google.cloud.tasks_v2.types import cloudtasks, task

PARENT = "projects/bench/locations/us-central1"
BODY = b"x" * 100
MODES = ("sync", "async64", "stub64", "rest")


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


def measure(
    target: str, rest_url: str, calls: int, modes: tuple[str, ...] = MODES
) -> dict[str, float]:
    channel = grpc.insecure_channel(target)
    client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
    rates: dict[str, float] = {}
    queue = _setup(client, "warm")
    for _ in range(50):  # warm up
        client.create_task(request=_request(queue))
    if "sync" in modes:
        queue = _setup(client, "sync")
        rates["sync"] = _timed(calls, lambda: _repeat(calls, client, queue))
    if "async64" in modes:
        queue = _setup(client, "async")
        rates["async64"] = asyncio.run(_async_rate(target, queue, calls))
    if "stub64" in modes:
        queue = _setup(client, "stub")
        rates["stub64"] = asyncio.run(_stub_rate(target, queue, calls))
    if "rest" in modes:
        rest = tasks_v2.CloudTasksClient(
            transport="rest",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options=ClientOptions(api_endpoint=rest_url),
        )
        queue = _setup(client, "rest")
        rest_calls = calls // 2
        rates["rest"] = _timed(rest_calls, lambda: _repeat(rest_calls, rest, queue))
    channel.close()
    return rates


async def _in_flight(calls: int, one: Callable[[], object], width: int = 64) -> float:
    remaining = calls

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one()  # type: ignore[misc]

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
    request = cloudtasks.CreateTaskRequest(_request(queue))
    raw = cloudtasks.CreateTaskRequest.serialize(request)
    call = channel.unary_unary(
        "/google.cloud.tasks.v2.CloudTasks/CreateTask",
        request_serializer=lambda b: b,
        response_deserializer=task.Task.pb().FromString,
    )
    rate = await _in_flight(calls, lambda: call(raw))
    await channel.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=FLAGS")
    parser.add_argument("--src", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--modes", default=",".join(MODES), help="of " + ", ".join(MODES))
    args = parser.parse_args()
    modes = tuple(args.modes.split(","))
    variants = [Variant("emulator"), Variant("null grpc.aio / aiohttp", null=True)]
    for spec in args.variant:
        name, _, flags = spec.partition("=")
        variants.append(Variant(name, shlex.split(flags)))
    for spec in args.src:
        name, _, path = spec.partition("=")
        variants.append(Variant(name, src=str(Path(path).resolve())))
    results: dict[str, dict[str, list[float]]] = {v.name: {m: [] for m in modes} for v in variants}
    for _ in range(args.runs):
        for variant in variants:  # interleaved: A B A B ...
            with variant.serve() as (target, rest_url):
                for mode, rate in measure(target, rest_url, args.calls, modes).items():
                    results[variant.name][mode].append(rate)
    base = results["null grpc.aio / aiohttp"]
    print(f"CreateTask per second, median (min–max) of {args.runs} interleaved runs:")
    for name, modes in results.items():
        cells = []
        for mode in modes:
            ratio = statistics.median(modes[mode]) / statistics.median(base[mode])
            cells.append(f"{mode} {summary(modes[mode])} ({ratio:.2f}× null)")
        print(f"  {name:<24} " + "; ".join(cells))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
