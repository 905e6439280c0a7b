"""Schedule lateness: how long after its `schedule_time` each task arrives.

Each run starts the emulator (and any variant) afresh, schedules `--tasks` tasks at
distinct times (one every 20 ms, from 2 s ahead) in a running queue, and reads at the
target (bench/target.py) how late each arrived: its arrival time minus the
`X-CloudTasks-TaskETA` it carries (both wall-clock time of this machine).

    python bench/bench_lateness.py [--runs 3] [--tasks 500] [--peer] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_drain import _stats
from common import Variant, add_variant_arguments, emulator_variants, summary, target_process

PARENT = "projects/bench/locations/us-central1"


def lateness_ms(variant: Variant, tasks: int) -> list[float]:
    with target_process() as target, variant.serve() as served:
        client = served.client()
        queue = f"{PARENT}/queues/late"
        client.create_queue(parent=PARENT, queue={"name": queue})
        start = datetime.now(UTC) + timedelta(seconds=2)
        for number in range(tasks):
            client.create_task(
                parent=queue,
                task={
                    "http_request": {"url": f"{target}/late", "body": b"x"},
                    "schedule_time": start + timedelta(milliseconds=20 * number),
                },
            )
        return [value * 1000 for value in _stats(target, tasks, timeout=120)["lateness"]]


def _quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q * 100) - 1] if len(values) > 1 else values[0]


def run(variants: list[Variant], runs: int, tasks: int) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {v.name: {} for v in variants}
    for _ in range(runs):
        for variant in variants:
            late = lateness_ms(variant, tasks)
            figures = results[variant.name]
            figures.setdefault("p50_ms", []).append(statistics.median(late))
            figures.setdefault("p99_ms", []).append(_quantile(late, 0.99))
            figures.setdefault("max_ms", []).append(max(late))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--json", metavar="FILE")
    add_variant_arguments(parser)
    args = parser.parse_args()
    results = run(emulator_variants(args), args.runs, args.tasks)
    print(f"Lateness of {args.tasks} scheduled tasks, median (min–max) of {args.runs} runs:")
    for name, figures in results.items():
        cells = [f"{key} {summary(values, '{:.1f}')}" for key, values in figures.items()]
        print(f"  {name:<24} " + "; ".join(cells))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
