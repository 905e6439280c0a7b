"""Start-up: from the process's start to its first answered ListQueues, and its memory
once idle; and, where a Docker engine runs, `docker run` to healthy.

Each run starts, afresh and in turn, the emulator (`cloud-tasks-emulator`, as users
start it), the least a gRPC server can be (bench/null_server.py grpc-bare: grpc.aio
alone), and any variant asked for. The time is taken by a client that keeps trying
ListQueues from the moment the process is spawned (reconnecting every 5 ms).

    python bench/bench_startup.py [--runs 7] [--docker] [--peer] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from pathlib import Path

from common import Variant, add_variant_arguments, emulator_variants, summary

BARE = "do-nothing grpc.aio server"
IMAGE = "cloud-tasks-emulator:local"


def run(variants: list[Variant], runs: int) -> dict[str, dict[str, list[float]]]:
    everyone = [*variants, Variant(BARE, kind="null-bare")]
    results: dict[str, dict[str, list[float]]] = {v.name: {} for v in everyone}
    for _ in range(runs):
        for variant in everyone:
            with variant.serve() as served:
                results[variant.name].setdefault("first_answer_ms", []).append(
                    served.first_answer * 1000
                )
                time.sleep(1.0)  # idle: whatever loads after the first answer has loaded
                results[variant.name].setdefault("idle_rss_mib", []).append(
                    served.rss_bytes() / 2**20
                )
    return results


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False)
    return probe.returncode == 0


def docker_healthy(runs: int) -> list[float]:
    """Seconds from `docker run` to the container's health being `healthy`."""
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        container = subprocess.run(
            ["docker", "run", "-d", "--rm", IMAGE], capture_output=True, text=True, check=True
        ).stdout.strip()
        try:
            while True:
                state = subprocess.run(
                    ["docker", "inspect", "-f", "{{.State.Health.Status}}", container],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.strip()
                if state == "healthy":
                    times.append(time.perf_counter() - began)
                    break
                if time.perf_counter() - began > 60:
                    raise RuntimeError(f"the container was not healthy within 60 s: {state}")
                time.sleep(0.02)
        finally:
            subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--docker", action="store_true", help=f"also time the image {IMAGE}")
    parser.add_argument("--json", metavar="FILE")
    add_variant_arguments(parser)
    args = parser.parse_args()
    results = run(emulator_variants(args), args.runs)
    print(f"Start-up, median (min–max) of {args.runs} interleaved runs:")
    for name, figures in results.items():
        print(
            f"  {name:<28} first ListQueues answered {summary(figures['first_answer_ms'])} ms; "
            f"idle memory {summary(figures['idle_rss_mib'], '{:.0f}')} MiB"
        )
    if args.docker:
        if docker_available():
            times = docker_healthy(args.runs)
            results["docker"] = {"healthy_s": times}
            print(f"  docker run to healthy: {summary(times, '{:.2f}')} s")
        else:
            print(f"  docker run to healthy: skipped (no Docker engine, or no image {IMAGE})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
