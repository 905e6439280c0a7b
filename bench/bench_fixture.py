"""The pytest fixture's costs: emulator start-up, reset, and a 24-hour time jump.

python bench/bench_fixture.py [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta

from emulator import Emulator


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.2f} ms, max {max(values) * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    starts, stops, resets, jumps = [], [], [], []
    for _ in range(args.runs):
        began = time.perf_counter()
        emulator = Emulator().start()
        starts.append(time.perf_counter() - began)
        client = emulator.client()
        queue = client.create_queue(
            parent=emulator.parent, queue={"name": emulator.queue_name("q")}
        )
        for _ in range(20):
            client.create_task(
                parent=queue.name,
                task={
                    "http_request": {"url": "http://127.0.0.1:9/"},
                    "schedule_time": emulator.now + timedelta(hours=24),
                },
            )
        began = time.perf_counter()
        emulator.advance(timedelta(hours=24))
        jumps.append(time.perf_counter() - began)
        began = time.perf_counter()
        emulator.reset()
        resets.append(time.perf_counter() - began)
        began = time.perf_counter()
        emulator.stop()
        stops.append(time.perf_counter() - began)
    print(f"Emulator start ({args.runs} runs): {ms(starts)}")
    print(f"reset: {ms(resets)}")
    print(f"advance 24 h with 20 due tasks (refused connections): {ms(jumps)}")
    print(f"stop: {ms(stops)}")


if __name__ == "__main__":
    main()
