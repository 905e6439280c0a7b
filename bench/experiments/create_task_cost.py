"""Where a CreateTask call's time goes, against the do-nothing server (issue 22, item 2).

Measurement only: every variant is this checkout's emulator, started from its CLI in a
process of its own, with one step of CreateTask's handler taken out by a monkeypatch
applied in that process before it starts (nothing under emulator/ changes), or a
do-nothing server. The client is a bare sync gRPC stub sending one pre-serialized
CreateTaskRequest at a time to a paused queue (nothing is delivered); each figure is the
wall time a call, in µs, median (min–max) of the rounds, the servers interleaved.

    python bench/experiments/create_task_cost.py [--rounds 5] [--calls 3000]
        [--variants full,canned,...] [--profile FILE]

`--in-process` times the same variants without gRPC: the service's create_task called
directly, in a loop, on a started EmulatorServer (its dispatcher listening), in a fresh
process a variant and round; each figure is the least µs a call of 30 batches of
`--calls` (the least is what the code costs; a busy machine only adds). Rows `parse` and
`serialize` time the gRPC handler's own two steps.

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
import contextlib
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
if os.environ.get("EXPERIMENT_SRC"):  # another checkout's emulator, not the installed one
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__]
    sys.path.insert(0, os.environ["EXPERIMENT_SRC"])

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
    "canned-bytes": "the emulator's gRPC server answering CreateTask as the do-nothing one does",
    "gc-freeze": "the emulator with gc.freeze() once started",
    "change-tuple": "the store's Change a NamedTuple, not a frozen dataclass",
    "fast-wrapper": "the gRPC handler without inspect.isawaitable a call",
}


# -- the server side: runs in the server's process --------------------------------------


def _gc_recorder(path: str) -> None:
    """Time spent in the collector, by generation, written to `path` (checked every 50 ms,
    written when it changed)."""
    state: dict[str, Any] = {"seconds": 0.0, "collections": [0, 0, 0], "started": 0.0}
    changes = [0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            state["started"] = time.perf_counter()
        else:
            state["seconds"] += time.perf_counter() - state["started"]
            state["collections"][info["generation"]] += 1
            changes[0] += 1

    gc.callbacks.append(callback)

    def write() -> None:
        written = -1
        while True:
            if changes[0] != written:
                written = changes[0]
                text = json.dumps({k: state[k] for k in ("seconds", "collections")})
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
    elif variant in ("gc-freeze", "change-tuple", "fast-wrapper", "canned-bytes"):
        _patch_candidate(variant)
    elif variant != "full":
        raise SystemExit(f"unknown variant {variant}")


def in_process(variant: str, calls: int, batches: int = 30) -> dict[str, Any]:
    """The least µs a call of `batches` batches of `calls` direct calls (and the collector's
    share), in this process."""
    import asyncio

    _patch(variant)
    gc_time = {"seconds": 0.0, "started": 0.0}

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_time["started"] = time.perf_counter()
        else:
            gc_time["seconds"] += time.perf_counter() - gc_time["started"]

    async def run() -> dict[str, Any]:
        from google.cloud.tasks_v2.types import cloudtasks

        from emulator.compose import EmulatorServer
        from emulator.core.settings import Settings
        from emulator.service import pb

        server = EmulatorServer(Settings(port=0, http_port=0))
        await server.start()
        try:
            service = server.tasks
            service.create_queue(pb.CreateQueueRequest(parent=PARENT, queue=pb.Queue(name=QUEUE)))
            service.pause_queue(pb.PauseQueueRequest(name=QUEUE))
            raw = cloudtasks.CreateTaskRequest.serialize(
                cloudtasks.CreateTaskRequest(
                    parent=QUEUE,
                    task={"http_request": {"url": "http://127.0.0.1:9/x", "body": b"x" * 100}},
                )
            )
            request = pb.CreateTaskRequest.FromString(raw)
            answer = service.create_task(request)
            steps = {
                "handler": lambda: service.create_task(request),
                "parse": lambda: pb.CreateTaskRequest.FromString(raw),
                "serialize": answer.SerializeToString,
            }
            figures: dict[str, Any] = {}
            gc.callbacks.append(callback)
            for key, step in steps.items():
                if key != "handler" and variant != "full":
                    continue
                least = float("inf")
                gc_time["seconds"] = 0.0
                for _ in range(batches):
                    began = time.perf_counter()
                    for _ in range(calls):
                        step()
                    least = min(least, time.perf_counter() - began)
                figures[key] = least / calls * 1e6
                if key == "handler":
                    figures["gc_us"] = gc_time["seconds"] / (calls * batches) * 1e6
            gc.callbacks.remove(callback)
            return figures
        finally:
            await server.stop(0)

    return asyncio.run(run())


def in_process_rounds(variants: list[str], rounds: int, calls: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    for number in range(rounds):
        for variant in variants:
            out = subprocess.run(
                [sys.executable, __file__, "in-process", variant, str(calls)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            for key, value in json.loads(out.splitlines()[-1]).items():
                row = variant if key == "handler" else key
                if key == "gc_us":
                    row = f"{variant} gc"
                results.setdefault(row, []).append(value)
        print(f"round {number + 1} of {rounds} done", file=sys.stderr, flush=True)
    return results


def in_process_instructions(variant: str, calls: int) -> float:
    """Instructions a direct call of the handler, under callgrind: a process making
    `calls` + 1 calls less one making 1 (start-up and the rest cancel out)."""
    totals = []
    for count in (1, calls + 1):
        folder = Path(tempfile.mkdtemp())
        subprocess.run(
            [
                "valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/cg.out",
                sys.executable, __file__, "in-process", variant, str(count), "1",
            ],
            capture_output=True,
            check=True,
        )  # fmt: skip
        text = (folder / "cg.out").read_text(errors="replace")
        totals.append(
            next(int(x.split()[1]) for x in text.splitlines() if x.startswith("summary:"))
        )
    return (totals[1] - totals[0]) / calls


def report_in_process(results: dict[str, list[float]]) -> None:
    full = statistics.median(results["full"]) if "full" in results else None
    print("variant: µs a call, median (min–max) of the rounds' least; − full")
    for name, values in results.items():
        middle = statistics.median(values)
        versus = f"{middle - full:+6.1f}" if full is not None and " " not in name else ""
        what = VARIANTS.get(name, "the gRPC handler's step" if " " not in name else "")
        print(f"{name:<16} {middle:6.1f} ({min(values):.1f}–{max(values):.1f}) {versus:>7}  {what}")


def _patch_candidate(variant: str) -> None:
    """The cheap cuts, tried as patches before they are made."""
    from emulator.store import store

    if variant == "gc-freeze":
        from emulator import compose

        start = compose.EmulatorServer.start

        async def frozen(self: Any) -> None:
            await start(self)
            gc.freeze()

        compose.EmulatorServer.start = frozen  # type: ignore[method-assign]
    elif variant == "change-tuple":
        from typing import NamedTuple

        class Change(NamedTuple):
            queue: Any
            task: Any = None
            run_now: bool = False
            removed: bool = False

        store.Change = Change  # type: ignore[misc]
    elif variant == "fast-wrapper":
        _patch_wrapper()
    elif variant == "canned-bytes":
        _patch_canned_bytes()


def _patch_canned_bytes() -> None:
    """CreateTask's gRPC handler as bench/null_server.py's: parse, answer canned bytes."""
    import grpc
    import null_server

    from emulator.grpc import server

    (request_type, answer) = null_server._methods()["CreateTask"]
    real = server.unary_handler

    def unary_handler(rpc: str, request_type_: Any, method: Any) -> Any:
        if not rpc.endswith("v2.CloudTasks/CreateTask"):
            return real(rpc, request_type_, method)

        async def handle(raw: bytes, context: object) -> bytes:
            request_type.FromString(raw)
            return answer

        return grpc.unary_unary_rpc_method_handler(handle)

    server.unary_handler = unary_handler


def _patch_wrapper() -> None:
    """The gRPC handler as emulator/grpc/server.py has it, but whether the method answers
    with an awaitable decided once, not asked of every answer."""
    import inspect

    import grpc
    from google.protobuf.message import DecodeError

    from emulator.core import errors
    from emulator.grpc import server
    from emulator.grpc.status import to_grpc_status

    def unary_handler(rpc: str, request_type: Any, method: Any) -> Any:
        parse = request_type.FromString
        awaits = inspect.iscoroutinefunction(method)

        async def handle(raw: bytes, context: Any) -> bytes:
            failure: errors.ApiError
            try:
                request = parse(raw)
            except DecodeError:
                failure = errors.InvalidArgument("unparsable")
            else:
                try:
                    response = (await method(request)) if awaits else method(request)
                    return bytes(response.SerializeToString())
                except errors.ApiError as error:
                    failure = error
            await context.abort_with_status(to_grpc_status(failure))
            raise AssertionError

        return grpc.unary_unary_rpc_method_handler(handle)

    server.unary_handler = unary_handler


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


def _cpu_ns(pid: int) -> int:
    """CPU time the process's threads have used, in ns (their schedstat: exact, unlike
    the clock ticks of /proc/PID/stat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a thread ended
            total += int((task / "schedstat").read_text().split()[0])
    return total


class _Callgrind:
    """The instructions a process under callgrind runs in a window (callgrind_control)."""

    def __init__(self, folder: Path) -> None:
        self.out = folder / "cg.out"
        self.dumps = 0

    def command(self) -> list[str]:
        return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.out}"]

    def zero(self, pid: int) -> None:
        subprocess.run(["callgrind_control", "-z", str(pid)], capture_output=True, check=True)

    def dump(self, pid: int) -> int:
        subprocess.run(["callgrind_control", "-d", str(pid)], capture_output=True, check=True)
        self.dumps += 1
        text = Path(f"{self.out}.{self.dumps}").read_text(errors="replace")
        for line in text.splitlines():
            if line.startswith("summary:"):
                return int(line.split()[1])
        raise RuntimeError("no summary in the callgrind dump")


def measure(
    variant: str, calls: int, profile: str = "", *, instructions: bool = False
) -> dict[str, Any]:
    """One server's figures; started again (on another port) when it does not start."""
    for attempt in range(3):
        try:
            return _measure_once(variant, calls, profile, instructions=instructions)
        except _NotStarted:
            print(f"{variant} did not start (attempt {attempt + 1})", file=sys.stderr)
    raise RuntimeError(f"{variant} did not start")


class _NotStarted(Exception):
    pass


def _measure_once(
    variant: str, calls: int, profile: str = "", *, instructions: bool = False
) -> dict[str, Any]:
    import grpc
    from common import free_port, grpc_client, wait_for_grpc
    from google.cloud.tasks_v2.types import cloudtasks, task

    port = free_port()
    folder = Path(tempfile.mkdtemp())
    stats = folder / "gc.json"
    callgrind = _Callgrind(folder) if instructions else None
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUD_TASKS_EMULATOR")}
    began = time.perf_counter()
    process = subprocess.Popen(
        [
            *(callgrind.command() if callgrind else []),
            sys.executable, __file__, "serve", variant, str(port), str(stats), profile,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )  # fmt: skip
    idle = 0.0
    try:
        target = f"127.0.0.1:{port}"
        try:
            wait_for_grpc(target, began, timeout=300)
        except grpc.RpcError:
            raise _NotStarted from None
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
            for _ in range(50 if callgrind else 300):
                call(raw)
            if callgrind:  # what the process runs idle, a second
                callgrind.zero(process.pid)
                time.sleep(2.0)
                idle = callgrind.dump(process.pid) / 2.0
                callgrind.zero(process.pid)
            before = _read_stats(stats)
            cpu = _cpu_ns(process.pid)
            start = time.perf_counter()
            for _ in range(calls):
                call(raw)
            elapsed = time.perf_counter() - start
            cpu = _cpu_ns(process.pid) - cpu
            counted = callgrind.dump(process.pid) if callgrind else 0
            after = _read_stats(stats)
    finally:
        process.terminate()
        process.wait(timeout=60)
    figures = {} if not callgrind else {
        "instructions": (counted - idle * elapsed) / calls,
        "idle_instructions_a_second": idle,
        "dumps": str(folder),
    }  # fmt: skip
    return {
        **figures,
        "us": elapsed / calls * 1e6,
        "cpu_us": cpu / calls / 1e3,
        "gc_us": (after["seconds"] - before["seconds"]) / calls * 1e6,
        "collections": [
            a - b for a, b in zip(after["collections"], before["collections"], strict=True)
        ],
    }


def report(results: dict[str, list[dict[str, Any]]], calls: int) -> None:
    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    def cell(name: str, key: str) -> str:
        values = [r[key] for r in results[name]]
        middle = statistics.median(values)
        text = f"{middle:.0f} ({min(values):.0f}–{max(values):.0f})"
        for base in ("null", "full"):
            text += f" {middle - median(base, key):+5.0f}" if base in results else ""
        return text

    print(
        "variant: wall µs a call (min–max) − null − full | server CPU µs a call (min–max) "
        "− null − full | gc µs a call, collections a call"
    )
    for name, runs in results.items():
        gc_part = ""
        if not name.startswith("null"):
            collections = statistics.median(sum(r["collections"]) for r in runs)
            gc_part = f"{median(name, 'gc_us'):.1f}, {collections / calls:.3f}"
        print(
            f"{name:<14} {cell(name, 'us'):>28} | {cell(name, 'cpu_us'):>28} | {gc_part:>12}"
            f"  {VARIANTS[name]}"
        )


def report_instructions(results: dict[str, list[dict[str, Any]]]) -> None:
    def median(name: str) -> float:
        return statistics.median(r["instructions"] for r in results[name])

    print("variant: thousands of instructions a call (min–max) − null − full; idle a second")
    for name, runs in results.items():
        values = [r["instructions"] / 1000 for r in runs]
        middle = statistics.median(values)
        cell = f"{middle:7.1f} ({min(values):.1f}–{max(values):.1f})"
        for base in ("null", "full"):
            cell += f" {middle - median(base) / 1000:+7.1f}" if base in results else ""
        idle = statistics.median(r["idle_instructions_a_second"] for r in runs) / 1000
        print(f"{name:<14} {cell}  idle {idle:.0f}k/s  {VARIANTS[name]}")


def print_profile(path: str, top: int = 30) -> None:
    import pstats

    stats = pstats.Stats(path)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(r"emulator/", top)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "in-process":
        batches = int(sys.argv[4]) if len(sys.argv) > 4 else 30
        print(json.dumps(in_process(sys.argv[2], int(sys.argv[3]), batches)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--profile", metavar="FILE", default="")
    parser.add_argument("--json", metavar="FILE", default="")
    parser.add_argument(
        "--src", metavar="PATH", default="", help="the emulator of another checkout (its root)"
    )
    parser.add_argument("--in-process", action="store_true", help="the handler alone, no gRPC")
    parser.add_argument(
        "--in-process-instructions",
        action="store_true",
        help="the handler alone, instructions a call under callgrind (one process a variant)",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="each server under valgrind's callgrind: instructions a call (its idle run "
        "taken out), not time",
    )
    args = parser.parse_args()
    if args.src:  # for every process started from here
        os.environ["EXPERIMENT_SRC"] = str(Path(args.src).resolve())
    variants = args.variants.split(",")
    if args.in_process_instructions:
        full = None
        for variant in [v for v in variants if not v.startswith("null")]:
            count = in_process_instructions(variant, args.calls)
            full = count if variant == "full" else full
            versus = f" {(count - full) / 1000:+7.1f}k" if full is not None else ""
            print(f"{variant:<14} {count / 1000:7.1f}k{versus}  {VARIANTS[variant]}", flush=True)
        return
    if args.in_process:
        figures = in_process_rounds(
            [v for v in variants if not v.startswith("null")], args.rounds, args.calls
        )
        report_in_process(figures)
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2))
        return
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for number in range(args.rounds):  # interleaved: A B C ... A B C ...
        for variant in variants:
            results[variant].append(measure(variant, args.calls, instructions=args.instructions))
        print(f"round {number + 1} of {args.rounds} done", file=sys.stderr, flush=True)
        if args.json:  # what is measured so far
            Path(args.json).write_text(json.dumps(results, indent=2))
    print(
        f"CreateTask, bare sync stub, sequential, {args.calls} calls a round, "
        f"median (min–max) of {args.rounds} interleaved rounds:"
    )
    if args.instructions:
        report_instructions(results)
    else:
        report(results, args.calls)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    if args.profile:
        profiled = measure("full", args.calls, profile=str(Path(args.profile).resolve()))
        print(f"\nunder cProfile: {profiled['us']:.0f} µs a call (wall)")
        print_profile(args.profile)


if __name__ == "__main__":
    main()
