"""Every benchmark, one command: the table of docs/performance.md.

Every server runs in a process of its own, started as its users start it, fresh for each
run; the client is this process (or one of its own: the bare aiohttp baseline, the
target). Within each row the servers run in turn, A B A B ..., and each figure is the
median (with the range) of the runs. The in-process figures (the pytest fixture's) come
last. The Go emulator (aertje/cloud-tasks-emulator v1.2.0, `--go-peer`, by default the
build in ../shared/peers beside the repository) runs in every row it can serve: gRPC only,
so not over REST, and only from outside (no attempt log, no in-process fixture).

    python bench/run.py                         # the emulator, the Go peer, the baselines
    python bench/run.py --peer                  # and the old Python emulator, from PyPI
    python bench/run.py --src before=../old     # and another checkout of this one
    python bench/run.py --go-peer ''            # without the Go peer
    python bench/run.py --docker                # and the image (cloud-tasks-emulator:local)
    python bench/run.py --quick                 # fewer runs and smaller sizes: a smoke test
    python bench/run.py --only create,drain     # some sections (of SECTIONS) only
    python bench/run.py --json bench/results.json --docs docs/performance.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
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
from common import Variant, add_variant_arguments, create_tasks, emulator_variants

PARENT = "projects/bench/locations/us-central1"
SECTIONS = ("startup", "create", "drain", "memory", "lateness", "scale", "fixture")
TABLE = re.compile(r"(<!-- bench/run\.py: begin -->\n).*?(<!-- bench/run\.py: end -->)", re.S)


def memory_per_task(variant: Variant, count: int) -> tuple[float, float]:
    """Resident memory per task queued with CreateTask (async client, 64 calls in flight),
    in bytes, and the rate of those calls, per second."""
    with variant.serve() as served:
        client = served.client()
        queue = f"{PARENT}/queues/memory"
        client.create_queue(parent=PARENT, queue={"name": queue})
        client.pause_queue(name=queue)
        time.sleep(1.0)
        before = served.rss_bytes()
        task = {"http_request": {"url": "http://127.0.0.1:9/x", "body": b"x" * 100}}
        began = time.perf_counter()
        create_tasks(served.grpc_target, [queue], task, count)
        rate = count / (time.perf_counter() - began)
        time.sleep(1.0)
        return (served.rss_bytes() - before) / count, rate


def memory(variants: list[Variant], runs: int, count: int) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {v.name: {} for v in variants}
    for _ in range(runs):  # interleaved: A B A B ...
        for variant in variants:
            per_task, rate = memory_per_task(variant, count)
            results[variant.name].setdefault("bytes_per_task", []).append(per_task)
            results[variant.name].setdefault("fill_per_s", []).append(rate)
    return results


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _cell(values: list[float] | None, fmt: str = "{:,.0f}") -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(_median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def machine() -> str:
    """What the figures describe: processor, cores, memory, system, Python."""
    cpu = "unknown processor"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    found = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
    kib = int(found[1]) if found else 0
    return (
        f"{os.cpu_count()} cores ({cpu}), {kib / 2**20:.0f} GiB, {platform.machine()} "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=0, help="runs a row (default 5; quick: 1)")
    parser.add_argument("--docker", action="store_true")
    parser.add_argument("--only", default=",".join(SECTIONS), help="of " + ", ".join(SECTIONS))
    parser.add_argument("--json", metavar="FILE", default="")
    parser.add_argument(
        "--docs", metavar="FILE", default="", help="write the table into FILE, between its markers"
    )
    add_variant_arguments(parser)
    args = parser.parse_args()
    only = set(args.only.split(","))
    if only - set(SECTIONS):
        parser.error(f"--only: unknown {', '.join(sorted(only - set(SECTIONS)))}")
    runs = args.runs or (1 if args.quick else 5)
    sizes = {
        "large": 100_000 if args.quick else 1_000_000,
        "count": 10_000 if args.quick else 100_000,
        "calls": 1000 if args.quick else 4000,
        "drain_tasks": 250 if args.quick else 1000,
    }
    variants = emulator_variants(args)
    names = [v.name for v in variants]
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "runs": runs,
        "sizes": sizes,
        "quick": args.quick,
    }
    results.update(_measure(variants, only, runs, sizes, quick=args.quick, docker=args.docker))

    table = _table(results, names, sizes)
    print()
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps({**results, "table": table}, indent=2))
    if args.docs:
        _write_docs(Path(args.docs), results, table)


def _measure(
    variants: list[Variant],
    only: set[str],
    runs: int,
    sizes: dict[str, int],
    *,
    quick: bool,
    docker: bool,
) -> dict[str, Any]:
    """Every section asked for, in order, each interleaving the servers."""
    began = time.perf_counter()
    results: dict[str, Any] = {}

    def note(label: str) -> None:
        print(f"[{time.perf_counter() - began:6.0f} s] {label}", flush=True)

    if "startup" in only:
        note("start-up")
        results["startup"] = bench_startup.run(variants, max(runs, 5))
        if docker and bench_startup.docker_available():
            results["docker"] = bench_startup.docker_figures(runs)
    if "create" in only:
        note("CreateTask")
        results["create"] = bench_create_task.run(variants, runs, sizes["calls"])
    if "drain" in only:
        note("drain; created and delivered at once")
        drain_runs = runs if quick else max(runs, 3)
        results["drain"] = bench_drain.run(variants, drain_runs, tasks=sizes["drain_tasks"])
        results["due_at_once"] = [v.name for v in variants if v.kind == "go"]
    if "memory" in only:
        note("memory per queued task")
        results["memory"] = memory(variants, 1 if quick else 3, sizes["count"])
    if "lateness" in only:
        note("lateness")
        results["lateness"] = bench_lateness.run(variants, 1 if quick else max(runs, 3), 500)
    if "scale" in only:
        note("scale")
        results["scale"] = bench_scale.run([1000, sizes["large"]])
    if "fixture" in only:
        note("in process")
        results["fixture"] = bench_fixture.run(runs)
    note("done")
    return results


def _write_docs(path: Path, results: dict[str, Any], table: str) -> None:
    """The table, with its date and machine, between the markers of `path`."""
    if results["quick"]:
        runs = "a --quick smoke run (one run, smaller sizes: it shows that each row runs, "
        runs += "not how fast)"
    else:
        runs = f"medians (ranges) of {results['runs']} interleaved runs a row"
    text = (
        f"Measured {results['date'][:10]} by `python bench/run.py`, {runs}, on "
        f"{results['machine']}:\n\n{table}\n"
    )
    page = path.read_text()
    if not TABLE.search(page):
        raise SystemExit(f"{path}: no <!-- bench/run.py: begin/end --> markers")
    path.write_text(TABLE.sub(lambda m: m[1] + "\n" + text + "\n" + m[2], page))


def _table(results: dict[str, Any], names: list[str], sizes: dict[str, int]) -> str:
    null, bare = bench_create_task.NULL, bench_startup.BARE
    columns = [*names, "do-nothing baseline"]
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, cells: list[str]) -> None:
        rows.append((label, cells))

    def ratio(values: list[float] | None, base: list[float] | None) -> str:
        if not values or not base:
            return ""
        return f" ({_median(values) / _median(base):.2f}×)"

    if "startup" in results:
        start = results["startup"]
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
    if "create" in results:
        create = results["create"]
        for mode, label in [
            ("sync", "CreateTask, one sequential sync client, /s"),
            ("stub1", "CreateTask, bare stub, sequential (server cost a call), /s"),
            ("threads8", "CreateTask, one sync client, 8 threads, /s"),
            ("async64", "CreateTask, async client, 64 in flight, /s"),
            ("stub64", "CreateTask, bare async stub, 64 in flight (server cost only), /s"),
            ("rest", "CreateTask over REST, one sequential client, /s"),
        ]:
            base = create[null].get(mode)
            cells = [_cell(create[n].get(mode)) + ratio(create[n].get(mode), base) for n in names]
            row(label, [*cells, _cell(base)])
    notes = []
    if "drain" in results:
        due = results.get("due_at_once", [])
        _drain_rows(row, results["drain"], names, sizes["drain_tasks"], due)
        if due:
            notes.append(
                "† not paused and resumed (the Go peer's ResumeQueue does not start delivery "
                "again): running queues, every task due at one instant after the fill."
            )
    if "memory" in results:
        mem = results["memory"]
        count = f"{sizes['count']:,}"
        row(
            f"filling {count} tasks (async client, 64 in flight), /s",
            [_cell(mem[n]["fill_per_s"]) for n in names],
        )
        row(
            f"memory per queued task ({count} tasks), bytes",
            [_cell(mem[n]["bytes_per_task"]) for n in names],
        )
    if "lateness" in results:
        late = results["lateness"]
        row("schedule lateness p99, ms", [_cell(late[n]["p99_ms"], "{:.1f}") for n in names])
    if "scale" in results:
        _scale_rows(row, results["scale"], sizes["large"])
    if "fixture" in results:
        _fixture_rows(row, results["fixture"])
    header = "| what | " + " | ".join(columns) + " |"
    rule = "|---" * (len(columns) + 1) + "|"
    lines = [header, rule]
    for label, cells in rows:
        padded = cells + [""] * (len(columns) - len(cells))
        lines.append(f"| {label} | " + " | ".join(padded) + " |")
    return "\n".join([*lines, "", *notes] if notes else lines)


def _drain_rows(
    row: Any, drain: dict[str, Any], names: list[str], tasks: int, due: list[str]
) -> None:
    def ratio(values: list[float], base: list[float]) -> str:
        return f" ({_median(values) / _median(base):.2f}×)"

    def mark(name: str) -> str:
        return " †" if name in due else ""

    total = f"{20 * tasks:,}"
    row(
        f"20 queues at 500/s, {total} tasks created (async client, 64 in flight) and "
        "delivered at once, /s",
        [_cell(drain[n].get("together")) for n in names],
    )
    bare_rate = drain[bench_drain.BARE]["rate"]
    row(
        f"drain of 20 paused queues × {tasks:,} at 500/s, /s (baseline: bare aiohttp client)",
        [_cell(drain[n]["rate"]) + ratio(drain[n]["rate"], bare_rate) + mark(n) for n in names]
        + [_cell(bare_rate)],
    )
    row(
        "  most requests to one queue in any second, at the target / by dispatch time "
        "(limit: burst 100 + rate 500)",
        [_most(drain[n], "max_in_a_second", "max_dispatched_in_a_second") for n in names],
    )
    row(
        "one queue at 500/s, 2,600 tasks: pace after its burst, /s",
        [_cell(drain[n].get("accuracy"), "{:.2f}") + mark(n) for n in names],
    )
    row(
        "  most requests in any second, at the target / by dispatch time (limit 600)",
        [
            _most(drain[n], "accuracy_max_in_a_second", "accuracy_max_dispatched_in_a_second")
            for n in names
        ],
    )


def _scale_rows(row: Any, scale: dict[str, Any], large: int) -> None:
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
            row(text, [f"{fmt.format(small[key])} / {fmt.format(big[key])}"])


def _fixture_rows(row: Any, fixture: dict[str, Any]) -> None:
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


def _most(figures: dict[str, list[float]], at_target: str, dispatched: str) -> str:
    """The worst of the runs, at the target and (where the server says) at dispatch."""
    if at_target not in figures:
        return "—"
    cell = f"{max(figures[at_target]):.0f}"
    return cell + (f" / {max(figures[dispatched]):.0f}" if dispatched in figures else "")


if __name__ == "__main__":
    main()
