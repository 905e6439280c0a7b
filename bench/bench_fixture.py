"""The pytest fixture's figures: the emulator inside this process (`emulator.Emulator`,
virtual clock), as the plugin runs it, with a target (bench/target.py) in another.

- start: `Emulator().start()` until it serves;
- reset: `reset()` with 1,000 tasks queued;
- advance: `advance(timedelta(hours=24))` over 1,000 tasks due at distinct times in those
  24 hours, each delivered (one by one: every step of the clock waits for what is due);
- advance, nothing to send: the same over 1,000 tasks of a paused queue;
- create (in process): CreateTask calls a second, one sequential client in this process;
- drain (in process): 10 paused queues x 500 tasks resumed, deliveries a second.

    python bench/bench_fixture.py [--runs 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests
from bench_drain import _fill, _stats
from common import summary, target_process

from emulator import Emulator

TASKS = 1000


def _queue_with_tasks(emulator: Emulator, url: str, *, paused: bool) -> None:
    client = emulator.client()
    queue = client.create_queue(parent=emulator.parent, queue={"name": emulator.queue_name("q")})
    if paused:
        client.pause_queue(name=queue.name)
    for number in range(TASKS):
        when = emulator.now + timedelta(seconds=60 + 86 * number)  # spread over 24 hours
        client.create_task(
            parent=queue.name, task={"http_request": {"url": url}, "schedule_time": when}
        )


def _timed(run: Any) -> float:
    began = time.perf_counter()
    run()
    return (time.perf_counter() - began) * 1000


def one_run(target: str) -> dict[str, float]:
    figures: dict[str, float] = {}
    began = time.perf_counter()
    emulator = Emulator().start()
    figures["start_ms"] = (time.perf_counter() - began) * 1000
    try:
        _queue_with_tasks(emulator, f"{target}/x", paused=True)
        figures["reset_ms"] = _timed(emulator.reset)
        _queue_with_tasks(emulator, f"{target}/x", paused=True)
        figures["advance_paused_ms"] = _timed(lambda: emulator.advance(timedelta(hours=24)))
        emulator.reset()
        _queue_with_tasks(emulator, f"{target}/x", paused=False)
        figures["advance_ms"] = _timed(lambda: emulator.advance(timedelta(hours=24)))
        assert len(emulator.attempts()) == TASKS
        emulator.reset()
        client = emulator.client()
        queue = client.create_queue(
            parent=emulator.parent, queue={"name": emulator.queue_name("c")}
        )
        client.pause_queue(name=queue.name)
        task = {"http_request": {"url": f"{target}/x", "body": b"x" * 100}}
        calls = 2000
        began = time.perf_counter()
        for _ in range(calls):
            client.create_task(parent=queue.name, task=task)
        figures["create_per_s"] = calls / (time.perf_counter() - began)
        emulator.reset()
        requests.post(f"{target}/_reset", timeout=10)
        names = _fill(client, target, 10, 500, 500)
        for name in names:
            client.resume_queue(name=name)
        stats = _stats(target, 5000)
        figures["drain_per_s"] = 5000 / (stats["last"] - stats["first"])
    finally:
        emulator.stop()
    return figures


def run(runs: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    with target_process() as target:
        for _ in range(runs):
            requests.post(f"{target}/_reset", timeout=10)
            for key, value in one_run(target).items():
                results.setdefault(key, []).append(value)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    results = run(args.runs)
    print(f"In process (the pytest fixture), median (min–max) of {args.runs} runs:")
    for key, values in results.items():
        print(f"  {key:<20} {summary(values, '{:.1f}')}")
    each = statistics.median(results["advance_ms"]) / TASKS
    print(f"  (advance: {each:.2f} ms a delivered task)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
