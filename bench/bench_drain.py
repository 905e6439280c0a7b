"""Delivery: a backlog drained, against a bare aiohttp client on the same target.

Each run starts, afresh and in turn (A B A B ...), every emulator variant
(`cloud-tasks-emulator`, its own process) and the baseline, each against a new target
(bench/target.py, its own process):

- drain: `--queues` paused queues at `--rate`/s each (burst and concurrency as the
  emulator derives them), `--tasks` immediate tasks in each (100-byte body, created with
  BatchCreateTasks), then every queue resumed at once; deliveries per second from the
  target's first arrival to its last. The baseline, bench/bare_client.py, posts as many
  requests with the same headers and body, `--in-flight` at a time.
- rates: no queue may ever get more than burst + rate requests in any one second (counted
  at the target, and by the emulator's own dispatch times), every
  request carries every Cloud Tasks header, and one queue at `--accuracy-rate`/s (a rate
  the emulator can keep) delivers within 2 % of it.
- together: `--queues` running queues at `--rate`/s, and as many tasks as the drain
  created by an async client (64 in flight, the queues in turn) while they are delivered;
  tasks per second from the first CreateTask call to the target's last arrival.

A server without BatchCreateTasks (the Go peer, the old Python peer) gets its backlog from
an async client, 64 CreateTask calls in flight. The Go peer's backlog is not paused and
resumed but made due at once (`--due-at-once` does the same for every server): running
queues, every task scheduled for one instant after the fill ends. Its ResumeQueue does not
start a paused queue's delivery again (v1.2.0: a few tasks go, then none; the queue stays
RUNNING with its tasks listed).

    python bench/bench_drain.py [--runs 3] [--queues 20] [--tasks 1000] [--rate 500]
        [--variant NAME=FLAGS ...] [--src NAME=PATH ...] [--peer] [--json out.json]

`--variant data-dir="--data-dir {tmp}"` adds an emulator started with those flags ({tmp}: a
new empty directory each start); `--src before=PATH` one from another checkout.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from common import (
    HERE,
    Served,
    Variant,
    add_variant_arguments,
    create_tasks,
    emulator_variants,
    summary,
    target_process,
)
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
    client: tasks_v2.CloudTasksClient,
    target: str,
    queues: int,
    tasks: int,
    rate: float,
    *,
    grpc_target: str | None = None,
) -> list[str]:
    """Paused queues full of immediate tasks (made in batches of 100; for a server without
    BatchCreateTasks, by an async client at `grpc_target`); their names."""
    names = _queues(client, queues, rate, paused=True)
    task = {"http_request": {"url": f"{target}/work", "body": BODY}}
    if grpc_target is not None:
        create_tasks(grpc_target, names, task, queues * tasks)
        return names
    for name in names:
        for start in range(0, tasks, BATCH):
            batch = [{"task": task}] * min(BATCH, tasks - start)
            client.batch_create_tasks(parent=name, requests=batch).result()
    return names


def _queues(
    client: tasks_v2.CloudTasksClient, queues: int, rate: float, *, paused: bool, prefix: str = "q"
) -> list[str]:
    names = []
    for index in range(queues):
        name = f"{PARENT}/queues/{prefix}{index}"
        client.create_queue(
            parent=PARENT, queue={"name": name, "rate_limits": {"max_dispatches_per_second": rate}}
        )
        if paused:
            client.pause_queue(name=name)
        names.append(name)
    return names


def _batches(variant: Variant) -> bool:
    return variant.kind == "emulator"


def _backlog(
    variant: Variant,
    served: Served,
    target: str,
    *,
    queues: int,
    tasks: int,
    rate: float,
    due_at_once: bool,
) -> None:
    """`queues` queues of `tasks` immediate tasks each, let go at once: paused, filled and
    resumed; or (`due_at_once`, and always for the Go peer) running, with every task
    scheduled for one instant after the fill ends."""
    client = served.client()
    if not (due_at_once or variant.kind == "go"):
        grpc_target = None if _batches(variant) else served.grpc_target
        for name in _fill(client, target, queues, tasks, rate, grpc_target=grpc_target):
            client.resume_queue(name=name)
        return
    # How long the fill takes, from 500 calls to a queue that stays paused; then half as
    # long again, and a second, before the tasks are due.
    (calibration,) = _queues(client, 1, rate, paused=True, prefix="calibration")
    task: dict[str, Any] = {"http_request": {"url": f"{target}/calibration", "body": BODY}}
    began = time.monotonic()
    create_tasks(served.grpc_target, [calibration], task, 500)
    per_task = (time.monotonic() - began) / 500
    names = _queues(client, queues, rate, paused=False)
    due = datetime.now(UTC) + timedelta(seconds=1.5 * per_task * queues * tasks + 1.0)
    task = {"http_request": {"url": f"{target}/work", "body": BODY}, "schedule_time": due}
    create_tasks(served.grpc_target, names, task, queues * tasks)
    if datetime.now(UTC) >= due:
        raise RuntimeError("the fill outlasted the time its tasks were due: rerun")


def together(variant: Variant, queues: int, tasks: int, rate: float) -> float:
    """Tasks a second, created (async client, 64 in flight) into running queues while they
    are delivered: from the first CreateTask call to the last arrival at the target."""
    total = queues * tasks
    with target_process() as target, variant.serve() as served:
        names = _queues(served.client(), queues, rate, paused=False)
        task = {"http_request": {"url": f"{target}/work", "body": BODY}}
        began = time.monotonic()  # the target's arrival times are this same clock
        create_tasks(served.grpc_target, names, task, total)
        stats = _stats(target, total)
    return total / (stats["last"] - began)


def drain(
    variant: Variant, queues: int, tasks: int, rate: float, *, due_at_once: bool = False
) -> dict[str, Any]:
    """Deliveries per second once every queue is resumed, and how even they were."""
    total = queues * tasks
    with target_process() as target, variant.serve() as served:
        _backlog(
            variant, served, target, queues=queues, tasks=tasks, rate=rate, due_at_once=due_at_once
        )
        stats = _stats(target, total)
        dispatched = _dispatch_times(served.http_url) if variant.kind == "emulator" else {}
    figures = {
        "rate": total / (stats["last"] - stats["first"]),
        "max_in_a_second": max(_max_in_a_second(a) for a in stats["queues"].values()),
        "missing_headers": stats["missing_headers"],
    }
    if dispatched:  # the same, by the emulator's own dispatch times (no network between)
        figures["max_dispatched_in_a_second"] = max(map(_max_in_a_second, dispatched.values()))
    return figures


def _dispatch_times(http_url: str | None) -> dict[str, list[float]]:
    """Each queue's attempts' dispatch times (seconds), from the emulator's attempt log
    (its newest 10,000 by default: the second half of the default drain)."""
    attempts = requests.get(f"{http_url}/_emulator/attempts", timeout=120).json()["attempts"]
    times: dict[str, list[float]] = {}
    for attempt in attempts:
        when = datetime.fromisoformat(attempt["dispatch_time"].replace("Z", "+00:00"))
        times.setdefault(attempt["queue"], []).append(when.timestamp())
    return times


def drain_bare(total: int, in_flight: int) -> float:
    """Deliveries per second of a bare aiohttp client posting `total` requests."""
    with target_process() as target:
        subprocess.run(
            [sys.executable, str(HERE / "bare_client.py"), f"{target}/work", str(total),
             "--in-flight", str(in_flight)],
            check=True,
        )  # fmt: skip
        stats = _stats(target, total)
    return float(total / (stats["last"] - stats["first"]))


def accuracy(
    variant: Variant, rate: float, seconds: float, *, due_at_once: bool = False
) -> dict[str, float]:
    """The delivery rate of one queue at `rate`/s after its burst (`seconds` of it), and
    the most deliveries in any one second, at the target and by dispatch time."""
    tasks = _burst(rate) + int(rate * seconds)
    with target_process() as target, variant.serve() as served:
        _backlog(variant, served, target, queues=1, tasks=tasks, rate=rate, due_at_once=due_at_once)
        arrivals = sorted(_stats(target, tasks)["queues"]["q0"])
        dispatched = _dispatch_times(served.http_url) if variant.kind == "emulator" else {}
    # After the burst and a second of settling (the burst opens its connections), one
    # token at a time: the pace from there to the last.
    steady = arrivals[_burst(rate) + math.ceil(rate) :]
    figures = {
        "accuracy": (len(steady) - 1) / (steady[-1] - steady[0]),
        "accuracy_max_in_a_second": _max_in_a_second(arrivals),
    }
    for times in dispatched.values():
        figures["accuracy_max_dispatched_in_a_second"] = _max_in_a_second(times)
    return figures


BARE = "bare aiohttp client"


def _dispatched(figures: dict[str, list[float]]) -> str:
    if "max_dispatched_in_a_second" not in figures:
        return ""
    return f", by dispatch time {max(figures['max_dispatched_in_a_second']):.0f}"


def run(
    variants: list[Variant],
    runs: int,
    *,
    queues: int = 20,
    tasks: int = 1000,
    rate: float = 500,
    in_flight: int = 100,
    accuracy_rate: float = 500,
    accuracy_seconds: float = 5,
    due_at_once: bool = False,
) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {v.name: {} for v in variants}
    results[BARE] = {"rate": []}
    for _ in range(runs):  # interleaved: A B A B ...
        for variant in variants:
            at_once = drain(variant, queues, tasks, rate, due_at_once=due_at_once)
            for key, value in at_once.items():
                results[variant.name].setdefault(key, []).append(value)
            if variant.kind in ("emulator", "go"):
                kept = accuracy(variant, accuracy_rate, accuracy_seconds, due_at_once=due_at_once)
                for key, value in kept.items():
                    results[variant.name].setdefault(key, []).append(value)
            rate_together = together(variant, queues, tasks, rate)
            results[variant.name].setdefault("together", []).append(rate_together)
        results[BARE]["rate"].append(drain_bare(queues * tasks, in_flight))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--queues", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=1000, help="tasks per queue")
    parser.add_argument("--rate", type=float, default=500, help="max_dispatches_per_second")
    parser.add_argument("--in-flight", type=int, default=100, help="the bare client's")
    parser.add_argument("--accuracy-rate", type=float, default=500)
    parser.add_argument("--accuracy-seconds", type=float, default=5)
    parser.add_argument(
        "--due-at-once",
        action="store_true",
        help="every server's backlog due at one instant in running queues, not resumed",
    )
    parser.add_argument("--json", metavar="FILE")
    add_variant_arguments(parser)
    args = parser.parse_args()
    results = run(
        emulator_variants(args),
        args.runs,
        queues=args.queues,
        tasks=args.tasks,
        rate=args.rate,
        in_flight=args.in_flight,
        accuracy_rate=args.accuracy_rate,
        accuracy_seconds=args.accuracy_seconds,
        due_at_once=args.due_at_once,
    )
    bare = statistics.median(results[BARE]["rate"])
    total = args.queues * args.tasks
    print(
        f"Drain of {args.queues} queues x {args.tasks} tasks at {args.rate:g}/s each "
        f"({total} deliveries), median (min–max) of {args.runs} interleaved runs:"
    )
    limit = _burst(args.rate) + args.rate
    for name, figures in results.items():
        line = f"  {name:<22} {summary(figures['rate'])}/s"
        if name != BARE:
            line += (
                f" ({statistics.median(figures['rate']) / bare:.2f}× bare); most in one "
                f"second to a queue {max(figures['max_in_a_second']):.0f} (limit {limit:.0f}"
                + _dispatched(figures)
                + "); "
                f"requests missing a header {max(figures['missing_headers']):.0f}"
            )
        if "accuracy" in figures:
            kept = summary(figures["accuracy"], "{:.2f}")
            most = max(figures["accuracy_max_in_a_second"])
            limit = _burst(args.accuracy_rate) + args.accuracy_rate
            by_dispatch = figures.get("accuracy_max_dispatched_in_a_second")
            line += (
                f"; one queue at {args.accuracy_rate:g}/s: {kept}/s, most in one second "
                f"{most:.0f} (limit {limit:.0f}"
                + (f", by dispatch time {max(by_dispatch):.0f}" if by_dispatch else "")
                + ")"
            )
        if "together" in figures:
            line += f"; created and delivered at once {summary(figures['together'])}/s"
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
