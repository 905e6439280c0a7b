"""Where delivery's HTTP work runs: on the emulator's loop, on a second loop in a thread, or
in a delivery process (docs/performance.md, "Delivery in a process of its own").

One process: an in-process `Emulator` on the real clock drains `--queues` paused queues x
`--tasks` tasks at 500/s each to bench/target.py (its own process); in turn (A B C A B C
...), the three senders:

- loop: `Sender`, on the emulator's event loop (an `Emulator`'s default);
- thread: the same `Sender` on an event loop of its own in a thread (defined here only:
  the GIL keeps aiohttp's Python code on one core at a time);
- process: `ProcessSender`, the delivery process (the command line's default).

For each: deliveries a second (the target's first arrival to its last) and the CPU this
process spent a delivery (the delivery process's own CPU is not in it).

    python bench/bench_sender.py [--runs 3] [--queues 20] [--tasks 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import threading
import time
from collections.abc import Callable

import requests
from common import target_process

from emulator import Emulator, compose
from emulator.core.routes import RouteTable
from emulator.dispatch.request import OutgoingRequest
from emulator.dispatch.sender import Outcome, Sender


class ThreadSender:
    """`Sender` on an event loop of its own, in a thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._sender = Sender()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()

    async def send(
        self,
        request: OutgoingRequest,
        routes: RouteTable | None = None,
        began: Callable[[], None] | None = None,
    ) -> Outcome:
        if began is not None:
            began()
        sending = self._sender.send(request, routes)
        future = asyncio.run_coroutine_threadsafe(sending, self._loop)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()
            raise

    async def close(self) -> None:
        closed = asyncio.run_coroutine_threadsafe(self._sender.close(), self._loop)
        await asyncio.wrap_future(closed)
        self._loop.call_soon_threadsafe(self._loop.stop)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def drain(kind: str, queues: int, tasks: int) -> tuple[float, float]:
    """(deliveries a second, this process's CPU µs a delivery)."""
    total = queues * tasks
    original = compose.Sender
    if kind == "thread":
        compose.Sender = ThreadSender  # type: ignore[misc,assignment]
    try:
        with (
            target_process() as target,
            Emulator(clock="real", delivery_process=kind == "process", log_level="warning") as emu,
        ):
            client = emu.client()
            names = []
            task = {"http_request": {"url": f"{target}/work", "body": b"x" * 100}}
            for index in range(queues):
                name = emu.queue_name(f"q{index}")
                rates = {"max_dispatches_per_second": 500}
                client.create_queue(parent=emu.parent, queue={"name": name, "rate_limits": rates})
                client.pause_queue(name=name)
                names.append(name)
                for start in range(0, tasks, 100):
                    batch = [{"task": task}] * min(100, tasks - start)
                    client.batch_create_tasks(parent=name, requests=batch).result()
            cpu = _cpu()
            for name in names:
                client.resume_queue(name=name)
            url = f"{target}/_stats?count={total}&timeout=600"
            stats = requests.get(url, timeout=630).json()
            cpu = _cpu() - cpu
    finally:
        compose.Sender = original  # type: ignore[misc]
    return total / (stats["last"] - stats["first"]), cpu / total * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--queues", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=1000)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {}
    began = time.perf_counter()
    for run in range(args.runs):
        for kind in ("loop", "thread", "process"):
            rate, cpu = drain(kind, args.queues, args.tasks)
            results.setdefault(kind, []).append((rate, cpu))
            print(f"[{time.perf_counter() - began:5.0f} s] run {run + 1} {kind}: {rate:,.0f}/s, "
                  f"{cpu:,.0f} µs CPU a delivery", flush=True)  # fmt: skip
    print(f"Drain of {args.queues} x {args.tasks}, median (min–max) of {args.runs} runs:")
    for kind, figures in results.items():
        rates, cpus = [r for r, _ in figures], [c for _, c in figures]
        print(
            f"  {kind:<8} {statistics.median(rates):,.0f} ({min(rates):,.0f}–{max(rates):,.0f})/s, "
            f"this process {statistics.median(cpus):,.0f} ({min(cpus):,.0f}–{max(cpus):,.0f}) "
            "µs CPU a delivery"
        )


if __name__ == "__main__":
    main()
