"""Where a CreateTask call's time goes, against the do-nothing server (issue 22, item 2).

Measurement only: every variant is this checkout's emulator, started from its CLI in a
process of its own, with one step of CreateTask's handler taken out by a monkeypatch
applied in that process before it starts (nothing under emulator/ changes), or a
do-nothing server. The client is a bare sync gRPC stub sending one pre-serialized
CreateTaskRequest at a time to a paused queue (nothing is delivered); each figure is the
wall time a call, in µs, median (min–max) of the rounds, the servers interleaved.

    python bench/experiments/create_task_cost.py [--rounds 5] [--calls 3000]
        [--variants full,canned,...] [--profile FILE]

Variants (see VARIANTS): the do-nothing servers (`null`: bench/null_server.py's grpc.aio
server; `null-opts`: the same with the emulator's server options; `null-sync`: the sync
`grpc.server` front with a thread pool), the emulator unchanged (`full`), its CreateTask
answered with a canned task after parsing (`canned`), and one step removed at a time. The
collector's time (gc.callbacks) is read from each emulator process before and after the
timed calls; `gc-off` runs with gc.disable(). `--profile FILE` also runs the unchanged
emulator under cProfile for one round and prints its top entries.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
sys.path.insert(0, str(BENCH))

PARENT = "projects/bench/locations/us-central1"
QUEUE = f"{PARENT}/queues/cost"

VARIANTS = {
    "null": "do-nothing grpc.aio server (bench/null_server.py)",
    "null-opts": "do-nothing grpc.aio server with the emulator's server options",
    "null-sync": "do-nothing sync grpc.server, 4 threads",
    "full": "the emulator, unchanged",
    "canned": "CreateTask parsed, then a canned task answered (no handler work)",
    "no-convert-in": "proto → record skipped (a copy of one record, renamed)",
    "no-headers": "headers.normalize skipped",
    "no-validate": "validation.validate_task skipped",
    "no-size": "size bound skipped",
    "no-store": "store insert (and so its announcement) skipped",
    "no-announce": "the store's change announcement skipped (insert kept)",
    "no-answer": "record → proto skipped (a canned answer)",
    "gc-off": "the emulator with gc.disable()",
}


# -- the server side: runs in the server's process --------------------------------------


def _gc_recorder(path: str) -> None:
    """Time spent in the collector, by generation, written to `path` every 50 ms."""
    state = {"seconds": 0.0, "collections": [0, 0, 0], "started": 0.0}

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            state["started"] = time.perf_counter()
        else:
            state["seconds"] += time.perf_counter() - state["started"]  # type: ignore[operator]
            state["collections"][info["generation"]] += 1  # type: ignore[index]

    gc.callbacks.append(callback)

    def write() -> None:
        while True:
            text = json.dumps({"seconds": state["seconds"], "collections": state["collections"]})
            Path(path + ".tmp").write_text(text)
            os.replace(path + ".tmp", path)
            time.sleep(0.05)

    threading.Thread(target=write, daemon=True).start()


def _patch(variant: str) -> None:  # one branch a variant
    from emulator.service import convert, pb, service
    from emulator.store import headers, store, validation
    from emulator.store.records import View

    answers: dict[str, Any] = {}

    def canned(task: Any = None, view: Any = View.BASIC) -> Any:
        if "task" not in answers:  # the first real answer, kept
            answers["task"] = real_to_pb(task, view)
        return answers["task"]

    real_to_pb = convert.task_to_pb
    if variant == "canned":
        task = pb.Task(name=f"{QUEUE}/tasks/1")
        task.http_request.url = "http://127.0.0.1:9/x"
        task.http_request.headers["User-Agent"] = "Google-Cloud-Tasks"
        task.schedule_time.seconds = task.create_time.seconds = 1_800_000_000
        task.dispatch_deadline.seconds = 600
        task.view = pb.Task.View.BASIC

        def create_task(self: Any, request: Any) -> Any:
            return task

        service.CloudTasksService.create_task = create_task  # type: ignore[method-assign]
    elif variant == "no-convert-in":
        real = convert.task_from_pb
        template: list[Any] = []

        def task_from_pb(msg: Any, name: Any, *, now: Any, queue_retry: Any) -> Any:
            if not template:
                template.append(real(msg, name, now=now, queue_retry=queue_retry))
            made = copy.copy(template[0])
            made.name = name
            return made

        convert.task_from_pb = task_from_pb
    elif variant == "no-headers":
        headers.normalize = lambda request: None
    elif variant == "no-validate":
        validation.validate_task = lambda task, queue, now: None
    elif variant == "no-size":
        convert.size_bound = lambda task: 0
    elif variant == "no-store":
        store.Store.create_task = lambda self, task, now=None: task  # type: ignore[method-assign]
    elif variant == "no-announce":
        store.Store._changed = lambda self, *args, **kwargs: None  # type: ignore[method-assign]
    elif variant == "no-answer":
        convert.task_to_pb = canned
    elif variant == "gc-off":
        gc.disable()
    elif variant != "full":
        raise SystemExit(f"unknown variant {variant}")


def serve(variant: str, port: int, stats: str, profile: str) -> None:
    if variant.startswith("null"):
        _serve_null(variant, port)
        return
    _gc_recorder(stats)
    _patch(variant)
    sys.argv = [
        "cloud-tasks-emulator", "--port", str(port), "--http-port", "0",
        "--log-level", "warning",
    ]  # fmt: skip
    from emulator.cli import main

    if not profile:
        main()
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        main()
    finally:
        profiler.disable()
        profiler.dump_stats(profile)


def _serve_null(variant: str, port: int) -> None:
    import asyncio
    from concurrent import futures

    import grpc
    import null_server

    methods = null_server._methods()
    if variant == "null-sync":

        def handler(request_type: Any, answer: bytes) -> Any:
            def handle(raw: bytes, context: object) -> bytes:
                request_type.FromString(raw)
                return answer

            return grpc.unary_unary_rpc_method_handler(handle)

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handlers = {name: handler(req, answer) for name, (req, answer) in methods.items()}
        server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler(null_server.SERVICE, handlers)]
        )
        server.add_insecure_port(f"127.0.0.1:{port}")
        server.start()
        server.wait_for_termination()
        return

    async def run() -> None:
        from emulator.core import limits

        options = [  # as emulator/compose.py gives them
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", limits.MAX_REQUEST_BYTES),
            ("grpc.max_send_message_length", limits.MAX_REQUEST_BYTES),
            ("grpc.max_metadata_size", limits.MAX_METADATA_BYTES),
            ("grpc.absolute_max_metadata_size", limits.MAX_METADATA_BYTES),
        ]
        server = grpc.aio.server(options=options if variant == "null-opts" else None)
        handlers = {
            name: null_server._handler(req, answer) for name, (req, answer) in methods.items()
        }
        server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler(null_server.SERVICE, handlers)]
        )
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        await server.wait_for_termination()

    if variant == "null":
        asyncio.run(null_server.serve_grpc(port))
    else:
        asyncio.run(run())


# -- the client side --------------------------------------------------------------------


def _read_stats(path: Path) -> dict[str, Any]:
    time.sleep(0.2)  # the recorder writes every 50 ms
    if not path.exists():
        return {"seconds": 0.0, "collections": [0, 0, 0]}
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def measure(variant: str, calls: int, profile: str = "") -> dict[str, Any]:
    import grpc
    from common import free_port, grpc_client, wait_for_grpc
    from google.cloud.tasks_v2.types import cloudtasks, task

    port = free_port()
    stats = Path(tempfile.mkdtemp()) / "gc.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUD_TASKS_EMULATOR")}
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, __file__, "serve", variant, str(port), str(stats), profile],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        target = f"127.0.0.1:{port}"
        wait_for_grpc(target, began)
        client = grpc_client(target)
        client.create_queue(parent=PARENT, queue={"name": QUEUE})
        client.pause_queue(name=QUEUE)
        request = cloudtasks.CreateTaskRequest(
            parent=QUEUE,
            task={"http_request": {"url": "http://127.0.0.1:9/x", "body": b"x" * 100}},
        )
        raw = cloudtasks.CreateTaskRequest.serialize(request)
        with grpc.insecure_channel(target) as channel:
            call = channel.unary_unary(
                "/google.cloud.tasks.v2.CloudTasks/CreateTask",
                request_serializer=lambda b: b,
                response_deserializer=task.Task.pb().FromString,
            )
            for _ in range(300):
                call(raw)
            before = _read_stats(stats)
            start = time.perf_counter()
            for _ in range(calls):
                call(raw)
            elapsed = time.perf_counter() - start
            after = _read_stats(stats)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return {
        "us": elapsed / calls * 1e6,
        "gc_us": (after["seconds"] - before["seconds"]) / calls * 1e6,
        "collections": [
            a - b for a, b in zip(after["collections"], before["collections"], strict=True)
        ],
    }


def report(results: dict[str, list[dict[str, Any]]]) -> None:
    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    base = median("null", "us") if "null" in results else None
    full = median("full", "us") if "full" in results else None
    print(f"{'variant':<15} {'µs a call':>22} {'− null':>8} {'− full':>8} {'gc µs':>6}  what")
    for name, runs in results.items():
        values = [r["us"] for r in runs]
        cell = f"{statistics.median(values):.0f} ({min(values):.0f}–{max(values):.0f})"
        versus_null = f"{statistics.median(values) - base:+.0f}" if base else ""
        versus_full = f"{statistics.median(values) - full:+.0f}" if full else ""
        gc_us = f"{median(name, 'gc_us'):.1f}" if not name.startswith("null") else ""
        print(
            f"{name:<15} {cell:>22} {versus_null:>8} {versus_full:>8} {gc_us:>6}  {VARIANTS[name]}"
        )


def print_profile(path: str, top: int = 30) -> None:
    import pstats

    stats = pstats.Stats(path)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(r"emulator/", top)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--profile", metavar="FILE", default="")
    parser.add_argument("--json", metavar="FILE", default="")
    args = parser.parse_args()
    variants = args.variants.split(",")
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for number in range(args.rounds):  # interleaved: A B C ... A B C ...
        for variant in variants:
            results[variant].append(measure(variant, args.calls))
        print(f"round {number + 1} of {args.rounds} done", file=sys.stderr, flush=True)
    print(
        f"CreateTask, bare sync stub, sequential, {args.calls} calls a round, "
        f"median (min–max) of {args.rounds} interleaved rounds:"
    )
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    if args.profile:
        profiled = measure("full", args.calls, profile=str(Path(args.profile).resolve()))
        print(f"\nunder cProfile: {profiled['us']:.0f} µs a call")
        print_profile(args.profile)


if __name__ == "__main__":
    main()
