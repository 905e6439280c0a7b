"""Every benchmark, one command: the table of the README's Performance section.

Every server runs in a process of its own, started as its users start it, fresh for each
run; the client is this process (or one of its own: the bare aiohttp baseline, the
target). Within each row the servers run in turn, A B A B ..., and each figure is the
median (with the range) of the runs. The in-process figures (the pytest fixture's) come
last.

    python bench/run.py                         # the emulator against the baselines
    python bench/run.py --peer                  # and the old Python emulator, from PyPI
    python bench/run.py --src before=../old     # and another checkout of this one
    python bench/run.py --docker                # and the image (cloud-tasks-emulator:local)
    python bench/run.py --quick                 # fewer runs and smaller sizes: a smoke test
    python bench/run.py --json bench/results.json

The Go emulator (aertje/cloud-tasks-emulator) cannot be built here (no Go toolchain), so
its figures are not measured by this command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bench_create_task
import bench_drain
import bench_fixture
import bench_lateness
import bench_scale
import bench_startup
import grpc
from common import Variant, add_variant_arguments, emulator_variants
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcAsyncIOTransport

PARENT = "projects/bench/locations/us-central1"


def memory_per_task(variant: Variant, count: int) -> float:
    """Resident memory per task queued with CreateTask (64 calls in flight), in bytes."""
    with variant.serve() as served:
        client = served.client()
        queue = f"{PARENT}/queues/memory"
        client.create_queue(parent=PARENT, queue={"name": queue})
        client.pause_queue(name=queue)
        time.sleep(1.0)
        before = served.rss_bytes()
        asyncio.run(_create(served.grpc_target, queue, count))
        time.sleep(1.0)
        return (served.rss_bytes() - before) / count


async def _create(target: str, queue: str, count: int) -> None:
    channel = grpc.aio.insecure_channel(target)
    client = tasks_v2.CloudTasksAsyncClient(
        transport=CloudTasksGrpcAsyncIOTransport(channel=channel)
    )
    task = {"http_request": {"url": "http://127.0.0.1:9/x", "body": b"x" * 100}}
    remaining = count

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await client.create_task(parent=queue, task=task)

    await asyncio.gather(*(worker() for _ in range(64)))
    await channel.close()


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _cell(values: list[float] | None, fmt: str = "{:,.0f}") -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(_median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=0, help="runs a row (default 5; quick: 1)")
    parser.add_argument("--docker", action="store_true")
    parser.add_argument("--json", metavar="FILE", default="")
    add_variant_arguments(parser)
    args = parser.parse_args()
    runs = args.runs or (1 if args.quick else 5)
    large = 100_000 if args.quick else 1_000_000
    variants = emulator_variants(args)
    names = [v.name for v in variants]
    began = time.perf_counter()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.system()}, Python {platform.python_version()}",
        "runs": runs,
    }

    def note(label: str) -> None:
        print(f"[{time.perf_counter() - began:6.0f} s] {label}", flush=True)

    note("start-up")
    results["startup"] = bench_startup.run(variants, max(runs, 5))
    if args.docker and bench_startup.docker_available():
        results["docker"] = bench_startup.docker_figures(runs)
    note("CreateTask")
    results["create"] = bench_create_task.run(variants, runs, 1000 if args.quick else 4000)
    note("drain")
    results["drain"] = bench_drain.run(variants, max(runs, 3))
    note("memory per queued task")
    count = 10_000 if args.quick else 100_000
    results["memory"] = {v.name: [memory_per_task(v, count)] for v in variants}
    note("lateness")
    results["lateness"] = bench_lateness.run(variants, max(runs, 3) if not args.quick else 1, 500)
    note("scale")
    results["scale"] = bench_scale.run([1000, large])
    note("in process")
    results["fixture"] = bench_fixture.run(runs)
    note("done")

    table = _table(results, names, large, count)
    print()
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps({**results, "table": table}, indent=2))


def _table(results: dict[str, Any], names: list[str], large: int, count: int) -> str:
    start, create, drain = results["startup"], results["create"], results["drain"]
    null, bare = bench_create_task.NULL, bench_startup.BARE
    columns = [*names, "do-nothing baseline"]
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, cells: list[str]) -> None:
        rows.append((label, cells))

    def ratio(values: list[float] | None, base: list[float] | None) -> str:
        if not values or not base:
            return ""
        return f" ({_median(values) / _median(base):.2f}×)"

    row(
        "process start → first ListQueues answered, ms",
        [_cell(start[n]["first_answer_ms"]) for n in names]
        + [_cell(start[bare]["first_answer_ms"])],
    )
    row(
        "idle memory, MiB",
        [_cell(start[n]["idle_rss_mib"]) for n in names] + [_cell(start[bare]["idle_rss_mib"])],
    )
    if "docker" in results:
        docker = results["docker"]
        row("`docker run` → port answering, s", [_cell(docker["serving_s"], "{:.2f}")])
        row("`docker run` → healthy, s", [_cell(docker["healthy_s"], "{:.2f}")])
        row(
            "idle container with its health check, % of a core",
            [_cell(docker.get("idle_cpu_pct"), "{:.1f}")],
        )
    for mode, label in [
        ("sync", "CreateTask, one sequential sync client, /s"),
        ("async64", "CreateTask, async client, 64 in flight, /s"),
        ("stub64", "CreateTask, bare stub, 64 in flight (server cost only), /s"),
        ("rest", "CreateTask over REST, one sequential client, /s"),
    ]:
        base = create[null].get(mode)
        cells = [_cell(create[n].get(mode)) + ratio(create[n].get(mode), base) for n in names]
        row(label, [*cells, _cell(base)])
    bare_rate = drain[bench_drain.BARE]["rate"]
    row(
        "drain of 20 paused queues × 500/s, 20,000 tasks, /s (baseline: bare aiohttp client)",
        [_cell(drain[n]["rate"]) + ratio(drain[n]["rate"], bare_rate) for n in names]
        + [_cell(bare_rate)],
    )
    row(
        "  most requests to one queue in any second, at the target / by dispatch time "
        "(limit: burst 100 + rate 500)",
        [_most(drain[n], "max_in_a_second", "max_dispatched_in_a_second") for n in names],
    )
    row(
        "one queue at 500/s, 2,600 tasks: pace after its burst, /s",
        [_cell(drain[n].get("accuracy"), "{:.2f}") for n in names],
    )
    row(
        "  most requests in any second, at the target / by dispatch time (limit 600)",
        [
            _most(drain[n], "accuracy_max_in_a_second", "accuracy_max_dispatched_in_a_second")
            for n in names
        ],
    )
    memory = results["memory"]
    row(f"memory per queued task ({count:,} tasks), bytes", [_cell(memory[n]) for n in names])
    late = results["lateness"]
    row("schedule lateness p99, ms", [_cell(late[n]["p99_ms"], "{:.1f}") for n in names])
    scale = results["scale"]
    small, big = scale["1000"], scale[str(large)]
    for key, label, fmt in [
        (
            "bytes_per_task",
            "memory per queued task at {large} (created in batches), bytes",
            "{:,.0f}",
        ),
        ("create_per_s", "CreateTask at 1,000 / {large} queued, /s", "{:,.0f}"),
        ("dispatch_per_s", "drain of 10 × 500 at 1,000 / {large} queued, /s", "{:,.0f}"),
        ("first_delivery_ms", "CreateTask call → delivery at 1,000 / {large} queued, ms", "{:.2f}"),
        ("idle_cpu_percent", "idle CPU with 1,000 / {large} future tasks, % of a core", "{:.2f}"),
    ]:
        text = label.format(large=f"{large:,}")
        if key == "bytes_per_task":
            row(text, [fmt.format(big[key])])
        else:
            pair = f"{fmt.format(small[key])} / {fmt.format(big[key])}"
            row(text, [pair])
    fixture = results["fixture"]
    for key, label, fmt in [
        ("start_ms", "in process: Emulator() ready, ms", "{:.1f}"),
        ("reset_ms", "in process: reset() with 1,000 tasks, ms", "{:.2f}"),
        (
            "advance_paused_ms",
            "in process: advance(24 h) past 1,000 tasks of a paused queue, ms",
            "{:.1f}",
        ),
        ("advance_ms", "in process: advance(24 h) delivering 1,000 tasks one by one, ms", "{:.0f}"),
        ("create_per_s", "in process: CreateTask, one sequential client, /s", "{:,.0f}"),
        ("drain_per_s", "in process: drain of 10 × 500, /s", "{:,.0f}"),
    ]:
        row(label, [_cell(fixture[key], fmt)])
    header = "| what | " + " | ".join(columns) + " |"
    rule = "|---" * (len(columns) + 1) + "|"
    lines = [header, rule]
    for label, cells in rows:
        padded = cells + [""] * (len(columns) - len(cells))
        lines.append(f"| {label} | " + " | ".join(padded) + " |")
    return "\n".join(lines)


def _most(figures: dict[str, list[float]], at_target: str, dispatched: str) -> str:
    """The worst of the runs, at the target and (where the server says) at dispatch."""
    if at_target not in figures:
        return "—"
    cell = f"{max(figures[at_target]):.0f}"
    return cell + (f" / {max(figures[dispatched]):.0f}" if dispatched in figures else "")


if __name__ == "__main__":
    main()
