"""Start-up: from the process's start to its first answered ListQueues, and its memory
once idle; and, where a Docker engine runs, `docker run` to serving and to healthy, and
the idle container's CPU with its health check.

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

from emulator import probe

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


def docker_figures(runs: int) -> dict[str, list[float]]:
    """`docker run` (port 8124 published) to the HTTP port answering `/healthz`, and to
    the container's health being `healthy` (Docker runs the image's HEALTHCHECK first one
    interval after the start); then, once, the CPU the idle container uses with its health
    check running (percent of one core, from its cgroup over 20 s)."""
    figures: dict[str, list[float]] = {"serving_s": [], "healthy_s": []}
    for number in range(runs):
        began = time.perf_counter()
        container = subprocess.run(
            ["docker", "run", "-d", "--rm", "-p", "127.0.0.1::8124", IMAGE],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        try:
            port = _published_port(container)
            serving = None
            while _health(container) != "healthy":
                if serving is None and _answers(port):
                    serving = time.perf_counter() - began
                if time.perf_counter() - began > 60:
                    raise RuntimeError("the container was not healthy within 60 s")
                time.sleep(0.01)
            figures["healthy_s"].append(time.perf_counter() - began)
            figures["serving_s"].append(serving or figures["healthy_s"][-1])
            if number == 0:
                cpu = _idle_cpu_percent(container, 20.0)
                if cpu is not None:
                    figures["idle_cpu_pct"] = [cpu]
        finally:
            subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
    return figures


def _published_port(container: str) -> int:
    out = subprocess.run(
        ["docker", "port", container, "8124/tcp"], capture_output=True, text=True, check=True
    ).stdout
    return int(out.split()[0].rsplit(":", 1)[1])


def _health(container: str) -> str:
    return subprocess.run(
        ["docker", "inspect", "-f", "{{.State.Health.Status}}", container],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def _answers(port: int) -> bool:
    try:
        probe.http_ok("127.0.0.1", port, "/healthz", timeout=1.0)
    except probe.Unhealthy:
        return False
    return True


def _idle_cpu_percent(container: str, seconds: float) -> float | None:
    """CPU of the container's cgroup (cgroup v2), health probes included."""
    found = [*Path("/sys/fs/cgroup").glob(f"**/*{container}*/cpu.stat")]
    if not found:
        return None

    def used() -> int:
        for line in found[0].read_text().splitlines():
            key, value = line.split()
            if key == "usage_usec":
                return int(value)
        return 0

    time.sleep(2.0)
    before = used()
    time.sleep(seconds)
    return (used() - before) / 1e6 / seconds * 100


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
            docker = results["docker"] = docker_figures(args.runs)
            print(
                f"  docker run to serving: {summary(docker['serving_s'], '{:.2f}')} s, "
                f"to healthy: {summary(docker['healthy_s'], '{:.2f}')} s; idle CPU with "
                f"its health check: {summary(docker.get('idle_cpu_pct', []), '{:.1f}')} %"
            )
        else:
            print(f"  docker: skipped (no Docker engine, or no image {IMAGE})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
