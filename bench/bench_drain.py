"""Delivery: a backlog drained, against a bare aiohttp client on the same target.

Each run starts, afresh and in turn (A B A B ...), every emulator variant
(`cloud-tasks-emulator`, its own process) and the baseline, each against a new target
(bench/target.py, its own process):

- drain: `--queues` paused queues at `--rate`/s each (burst and concurrency as the
  emulator derives them), `--tasks` immediate tasks in each (100-byte body, created with
  BatchCreateTasks), then every queue resumed at once; deliveries per second from the
  target's first arrival to its last. The baseline, bench/bare_client.py, posts as many
  requests with the same headers and body, `--in-flight` at a time.
- rates: no queue may ever get more than burst + rate requests in any one second, every
  request carries every Cloud Tasks header, and one queue at `--accuracy-rate`/s (a rate
  the emulator can keep) delivers within 2 % of it.

    python bench/bench_drain.py [--runs 3] [--queues 20] [--tasks 1000] [--rate 500]
        [--variant NAME=FLAGS ...] [--src NAME=PATH ...] [--json out.json]

`--variant data-dir="--data-dir {tmp}"` adds an emulator started with those flags ({tmp}: a
new empty directory each start); `--src before=PATH` one from another checkout.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests
from common import HERE, Variant, grpc_client, summary, target_process
from google.cloud import tasks_v2

PARENT = "projects/bench/locations/us-central1"
BODY = b"x" * 100
BATCH = 100


def _burst(rate: float) -> int:
    return min(100, max(1, math.ceil(rate)))  # the emulator's rule (README: Behaviour notes)


def _stats(target: str, count: int, timeout: float = 600) -> dict[str, Any]:
    url = f"{target}/_stats?count={count}&timeout={timeout}"
    stats: dict[str, Any] = requests.get(url, timeout=timeout + 30).json()
    if stats["count"] < count:
        raise RuntimeError(f"only {stats['count']} of {count} deliveries arrived")
    return stats


def _max_in_a_second(arrivals: list[float]) -> int:
    """The most arrivals in any one-second window."""
    arrivals = sorted(arrivals)
    most, start = 0, 0
    for end, at in enumerate(arrivals):
        while at - arrivals[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def _fill(
    client: tasks_v2.CloudTasksClient, target: str, queues: int, tasks: int, rate: float
) -> list[str]:
    """Paused queues full of immediate tasks; their names."""
    names = []
    for index in range(queues):
        name = f"{PARENT}/queues/q{index}"
        client.create_queue(
            parent=PARENT, queue={"name": name, "rate_limits": {"max_dispatches_per_second": rate}}
        )
        client.pause_queue(name=name)
        names.append(name)
    for name in names:
        for start in range(0, tasks, BATCH):
            batch = [
                {"task": {"http_request": {"url": f"{target}/work", "body": BODY}}}
                for _ in range(min(BATCH, tasks - start))
            ]
            client.batch_create_tasks(parent=name, requests=batch).result()
    return names


def drain_emulator(variant: Variant, args: argparse.Namespace) -> dict[str, Any]:
    total = args.queues * args.tasks
    with target_process() as target, variant.serve() as (grpc_target, _):
        client = grpc_client(grpc_target)
        names = _fill(client, target, args.queues, args.tasks, args.rate)
        for name in names:
            client.resume_queue(name=name)
        stats = _stats(target, total)
    rate = total / (stats["last"] - stats["first"])
    worst = max(_max_in_a_second(a) for a in stats["queues"].values())
    return {"rate": rate, "max_in_a_second": worst, "missing_headers": stats["missing_headers"]}


def drain_bare(args: argparse.Namespace) -> dict[str, Any]:
    total = args.queues * args.tasks
    with target_process() as target:
        subprocess.run(
            [sys.executable, str(HERE / "bare_client.py"), f"{target}/work", str(total),
             "--in-flight", str(args.in_flight)],
            check=True,
        )  # fmt: skip
        stats = _stats(target, total)
    return {"rate": total / (stats["last"] - stats["first"])}


def accuracy(variant: Variant, args: argparse.Namespace) -> float:
    """The delivery rate of one queue at --accuracy-rate/s, after its burst."""
    rate = args.accuracy_rate
    tasks = _burst(rate) + int(rate * args.accuracy_seconds)
    with target_process() as target, variant.serve() as (grpc_target, _):
        client = grpc_client(grpc_target)
        (name,) = _fill(client, target, 1, tasks, rate)
        client.resume_queue(name=name)
        arrivals = sorted(_stats(target, tasks)["queues"]["q0"])
    # The burst goes at once; the rest one token at a time: (n - burst) over that span.
    after_burst = arrivals[_burst(rate) - 1 :]
    return (len(after_burst) - 1) / (after_burst[-1] - after_burst[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--queues", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=1000, help="tasks per queue")
    parser.add_argument("--rate", type=float, default=500, help="max_dispatches_per_second")
    parser.add_argument("--in-flight", type=int, default=100, help="the bare client's")
    parser.add_argument("--accuracy-rate", type=float, default=100)
    parser.add_argument("--accuracy-seconds", type=float, default=5)
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=FLAGS")
    parser.add_argument("--src", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    variants = [Variant("emulator")]
    for spec in args.variant:
        name, _, flags = spec.partition("=")
        variants.append(Variant(name, shlex.split(flags)))
    for spec in args.src:
        name, _, path = spec.partition("=")
        variants.append(Variant(name, src=str(Path(path).resolve())))
    results: dict[str, dict[str, list[float]]] = {v.name: {} for v in variants}
    results["bare aiohttp client"] = {"rate": []}
    for _ in range(args.runs):  # interleaved: A B A B ...
        for variant in variants:
            for key, value in drain_emulator(variant, args).items():
                results[variant.name].setdefault(key, []).append(value)
            results[variant.name].setdefault("accuracy", []).append(accuracy(variant, args))
        results["bare aiohttp client"]["rate"].append(drain_bare(args)["rate"])
    bare = statistics.median(results["bare aiohttp client"]["rate"])
    total = args.queues * args.tasks
    burst = _burst(args.rate)
    print(
        f"Drain of {args.queues} queues x {args.tasks} tasks at {args.rate:g}/s each "
        f"({total} deliveries), median (min–max) of {args.runs} interleaved runs:"
    )
    for name, figures in results.items():
        line = f"  {name:<22} {summary(figures['rate'])}/s"
        if name != "bare aiohttp client":
            line += (
                f" ({statistics.median(figures['rate']) / bare:.2f}× bare); most in one "
                f"second to a queue {max(figures['max_in_a_second']):.0f} (limit "
                f"{burst + args.rate:.0f}); requests missing a header "
                f"{max(figures['missing_headers']):.0f}; one queue at "
                f"{args.accuracy_rate:g}/s delivered {summary(figures['accuracy'], '{:.2f}')}/s"
            )
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
