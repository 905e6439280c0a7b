"""Load and soak: many queues of named tasks, 20 % of attempts failed at random, checked
from the target's side.

Starts `cloud-tasks-emulator` as its own process (real clock) and bench/soak_target.py in
another, which answers 500 to a random `--fail-rate` of the attempts and records every
request it receives (queue, task name, retry count, the status it answered). Creates
`--queues` × `--tasks` tasks named `q{i}-t{j}` with BatchCreateTasks (100 per call), with
fast retries (min_backoff 0.1 s, max_backoff 1 s), waits for the drain, and verifies from
the target's records: every task succeeded exactly once, none is lost, no attempt arrived
after its task's success. Prints tasks, attempts, failures injected, lost, duplicates
after success, the emulator's RSS before, at its peak (sampled every 0.5 s) and after the
drain, wall time and deliveries per second.

The plain run repeats the load `--rounds` times (default 3) on one emulator and fails if
its RSS after the last round is more than `--max-growth` (5 %) above its RSS after the
second: what the emulator keeps after a drain (the newest attempts and batch operations,
the names still reserved) is bounded, so once the first round has filled it, a round
must end where the one before it did. Names
are reserved for `--tombstone-ttl` (30 s here, an hour by default), so that the first
round's have expired by the end of the second and the two rounds end holding alike.

Then the durability scenario, if the emulator has `--data-dir PATH`: the same run, but the
emulator is killed (SIGKILL) in the middle and restarted on the same data directory; every
task whose BatchCreateTasks call returned must still succeed at the target (at least once:
a second success is allowed only for an attempt in flight at the crash). Without
`--data-dir` the scenario is skipped, saying so.

    python bench/bench_soak.py                          # 50 queues x 2,000 tasks
    python bench/bench_soak.py --queues 5 --tasks 200   # a quick check, well under a minute
    python bench/bench_soak.py --data-dir /tmp/soak     # where the durability run keeps data

Exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import requests
from common import EmulatorProcess, console_script, emulator_process, free_port, mib, sleep
from google.api_core import exceptions
from google.cloud import tasks_v2

HERE = Path(__file__).resolve().parent
PARENT = "projects/bench/locations/us-central1"
BATCH = 100
RETRY = {"min_backoff": timedelta(seconds=0.1), "max_backoff": timedelta(seconds=1)}
SAMPLE_EVERY = 0.5


# -- the target ------------------------------------------------------------------------------


@contextlib.contextmanager
def soak_target(fail_rate: float, seed: int) -> Iterator[str]:
    """bench/soak_target.py in its own process; its URL."""
    port = free_port()
    process = subprocess.Popen(
        [
            *(sys.executable, str(HERE / "soak_target.py"), str(port)),
            *("--fail-rate", str(fail_rate), "--seed", str(seed)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()  # "ready"
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait()


def target_stats(url: str) -> dict[str, int]:
    return dict(requests.get(f"{url}/stats", timeout=30).json())


def target_records(url: str) -> list[tuple[str, str, int, int, float]]:
    records = requests.get(f"{url}/report", timeout=120).json()["records"]
    return [tuple(r) for r in records]


# -- memory ------------------------------------------------------------------------------------


class Sampler:
    """The emulator's RSS every 0.5 s, on a thread; follows `current` across a restart."""

    def __init__(self, current: EmulatorProcess) -> None:
        self.current = current
        self.peak = current.rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, self.current.rss_bytes())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


# -- creating the tasks ------------------------------------------------------------------------


def queue_name(index: int) -> str:
    return f"{PARENT}/queues/q{index}"


def batches(queues: int, tasks: int, round_: int = 0) -> list[tuple[int, list[str]]]:
    """(queue index, task ids) per BatchCreateTasks call, interleaved across the queues."""
    out = []
    prefix = f"r{round_}-" if round_ else ""
    for start in range(0, tasks, BATCH):
        for queue in range(queues):
            ids = [f"{prefix}q{queue}-t{j}" for j in range(start, min(start + BATCH, tasks))]
            out.append((queue, ids))
    return out


def create_batch(
    client: tasks_v2.CloudTasksClient, url: str, queue: int, ids: list[str], *, retrying: bool
) -> list[str]:
    """Create the tasks; the ids now known to the emulator. On a retry after a crash,
    ALREADY_EXISTS means the first call's task was kept."""
    parent = queue_name(queue)
    batch = [
        {
            "parent": parent,
            "task": {"name": f"{parent}/tasks/{task_id}", "http_request": {"url": f"{url}/task"}},
        }
        for task_id in ids
    ]
    operation = client.batch_create_tasks(parent=parent, requests=batch)
    try:
        operation.result()
    except exceptions.GoogleAPICallError:
        if not retrying:  # every item failed
            raise
    failed = operation.metadata.failed_requests
    bad = {i: s for i, s in failed.items() if not (retrying and s.code == 6)}  # ALREADY_EXISTS
    if bad:
        raise RuntimeError(f"BatchCreateTasks on {parent}: {len(bad)} failed, e.g. {bad}")
    return ids


def create_queues(client: tasks_v2.CloudTasksClient, queues: int) -> None:
    for index in range(queues):
        client.create_queue(parent=PARENT, queue={"name": queue_name(index), "retry_config": RETRY})


# -- the checks -------------------------------------------------------------------------------


@dataclass
class Findings:
    tasks: int = 0
    attempts: int = 0
    failures: int = 0
    lost: list[str] = field(default_factory=list)
    successes_twice: list[str] = field(default_factory=list)
    after_success: int = 0  # attempts that arrived after their task's first success
    allowed_after_success: int = 0  # ... of which the crash explains (in flight at it)
    unknown: int = 0  # requests for tasks never created
    out_of_order: int = 0  # retry counts not 0, 1, 2, ... in arrival order

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.after_success > self.allowed_after_success
            or self.unknown
            or self.out_of_order
        )


def check(
    records: list[tuple[str, str, int, int, float]],
    acknowledged: set[str],
    *,
    crash: tuple[float, float] | None = None,
) -> Findings:
    """What the target saw, against the tasks whose creation was acknowledged. `crash`:
    (wall time of the kill, how long before it a success may have gone unrecorded)."""
    found = Findings(tasks=len(acknowledged), attempts=len(records))
    by_task: dict[str, list[tuple[int, int, float]]] = defaultdict(list)
    for _queue, task, retry, status, at in records:
        by_task[task].append((retry, status, at))
        found.failures += status != 200
    for task, seen in by_task.items():
        if task not in acknowledged:
            found.unknown += 1
            continue
        if crash is None and [r for r, _, _ in seen] != list(range(len(seen))):
            found.out_of_order += 1
        successes = [i for i, (_, status, _) in enumerate(seen) if status == 200]
        if len(successes) > 1:
            found.successes_twice.append(task)
        if successes:
            first = successes[0]
            later = len(seen) - first - 1
            found.after_success += later
            if crash is not None and later:
                killed, window = crash
                if killed - window <= seen[first][2] <= killed:
                    found.allowed_after_success += later
    found.lost = sorted(
        acknowledged - {t for t, s in by_task.items() if any(x[1] == 200 for x in s)}
    )
    return found


def drain(url: str, total: int, timeout: float, began: float) -> float:
    """Until the target has seen a success for `total` tasks; the wall time it took."""
    end = time.monotonic() + timeout
    last_print = time.monotonic()
    while True:
        stats = target_stats(url)
        if stats["succeeded"] >= total:
            return time.monotonic() - began
        if time.monotonic() > end:
            print(f"  drain timed out: {stats}")
            return time.monotonic() - began
        if time.monotonic() - last_print > 10:
            print(f"  ... {stats['succeeded']}/{total} succeeded, {stats['requests']} requests")
            last_print = time.monotonic()
        sleep(SAMPLE_EVERY)


def settle_and_check_empty(emulator: EmulatorProcess, queues: int) -> int:
    """Give any stray retry time to arrive (past max_backoff), then the tasks the emulator
    still holds (0 after a clean drain)."""
    sleep(RETRY["max_backoff"].total_seconds() + 1)
    emulator.wait_until_idle(timeout=60)
    client = emulator.client()
    return sum(len(list(client.list_tasks(parent=queue_name(i)))) for i in range(queues))


def report(
    label: str,
    found: Findings,
    rss: tuple[int, int, int],
    wall: float,
    left: int,
    *,
    per_round: int | None = None,
) -> None:
    before, peak, after = rss
    print(f"{label}:")
    print(
        f"  tasks {found.tasks}, attempts {found.attempts}, failures injected {found.failures}, "
        f"lost {len(found.lost)}, duplicates after success {found.after_success}"
        + (
            f" ({found.allowed_after_success} in flight at the crash)"
            if found.allowed_after_success
            else ""
        )
        + f", tasks with two successes {len(found.successes_twice)}"
    )
    print(
        f"  unknown tasks {found.unknown}, retry counts out of order {found.out_of_order}, "
        f"tasks left in the emulator {left}"
    )
    print(f"  RSS before {mib(before)}, peak {mib(peak)}, after drain {mib(after)}")
    tasks = per_round or found.tasks
    print(f"  wall {wall:.1f} s (last round), {tasks / wall:.0f} tasks delivered/s")
    if found.lost:
        print(f"  lost, e.g.: {found.lost[:10]}")
    print("  OK" if found.ok and not left else "  FAILED")


# -- the scenarios ------------------------------------------------------------------------------


def plain_run(args: argparse.Namespace) -> bool:
    """`--rounds` rounds of the same load on one emulator: memory after the last round
    must stay near memory after the first (what is kept is bounded, nothing leaks)."""
    ok = True
    flags = ("--task-tombstone-ttl", args.tombstone_ttl)
    with soak_target(args.fail_rate, args.seed) as url, emulator_process(*flags) as emulator:
        client = emulator.client()
        create_queues(client, args.queues)
        before = emulator.rss_bytes()
        sampler = Sampler(emulator)
        after_rounds: list[int] = []
        acknowledged: set[str] = set()
        for round_ in range(args.rounds):
            began = time.monotonic()
            created: set[str] = set()
            with ThreadPoolExecutor(args.workers) as pool:
                futures = [
                    pool.submit(create_batch, client, url, q, ids, retrying=False)
                    for q, ids in batches(args.queues, args.tasks, round_)
                ]
                for future in futures:
                    created.update(future.result())
            print(f"  round {round_ + 1}: created {len(created)} tasks in "
                  f"{time.monotonic() - began:.1f} s")  # fmt: skip
            acknowledged |= created
            wall = drain(url, len(acknowledged), args.timeout, began)
            left = settle_and_check_empty(emulator, args.queues)
            after_rounds.append(emulator.rss_bytes())
            ok = ok and not left
        sampler.stop()
        found = check(target_records(url), acknowledged)
    report(
        f"soak: {args.rounds} round(s) of {args.queues} queues x {args.tasks} tasks",
        found,
        (before, sampler.peak, after_rounds[0]),
        wall,
        left,
        per_round=len(acknowledged) // args.rounds,
    )
    if args.rounds > 1:
        # The first round fills what is kept (history, operations, reserved names); from
        # the second on, a round must end where the one before it did.
        steady = after_rounds[1 if args.rounds > 2 else 0]
        growth = after_rounds[-1] / steady - 1
        print(
            "  RSS after each round: "
            + ", ".join(mib(r) for r in after_rounds)
            + f" ({growth:+.1%} from round {2 if args.rounds > 2 else 1} to the last)"
        )
        ok = ok and growth < args.max_growth
        if growth >= args.max_growth:
            print(f"  FAILED: memory grew by more than {args.max_growth:.0%} between rounds")
    return found.ok and ok


def data_dir_supported() -> tuple[bool, str]:
    result = subprocess.run(
        [console_script(), "--help"], capture_output=True, text=True, check=False, timeout=60
    )
    if "--data-dir" in result.stdout:
        return True, ""
    return False, "`cloud-tasks-emulator --help` lists no --data-dir (the store is in memory only)"


def crash_run(args: argparse.Namespace, data_dir: str) -> bool:
    """Kill the emulator (SIGKILL) once half the batches are acknowledged, restart it on
    the same data directory, finish creating, and check nothing acknowledged was lost."""
    total_batches = batches(args.queues, args.tasks)
    acknowledged: set[str] = set()
    unacknowledged: list[tuple[int, list[str]]] = []
    lock = threading.Lock()
    flags = ("--data-dir", data_dir)
    with soak_target(args.fail_rate, args.seed) as url:
        with emulator_process(*flags) as first:
            client = first.client()
            create_queues(client, args.queues)
            before = first.rss_bytes()
            sampler = Sampler(first)
            began = time.monotonic()
            half = threading.Event()

            def create(queue: int, ids: list[str]) -> None:
                try:
                    done = create_batch(client, url, queue, ids, retrying=False)
                except (exceptions.GoogleAPICallError, RuntimeError):
                    with lock:
                        unacknowledged.append((queue, ids))
                    return
                with lock:
                    acknowledged.update(done)
                    if len(acknowledged) >= len(total_batches) * BATCH // 2:
                        half.set()

            with ThreadPoolExecutor(args.workers) as pool:
                for queue, ids in total_batches:
                    pool.submit(create, queue, ids)
                if not half.wait(args.timeout):
                    raise RuntimeError("half the batches were never acknowledged")
                first.process.kill()  # SIGKILL: no shutdown, nothing flushed
                killed = time.time()
                first.process.wait()
            print(
                f"  killed with {len(acknowledged)} tasks acknowledged, "
                f"{len(unacknowledged)} batches not"
            )
        with emulator_process(*flags) as second:
            sampler.current = second
            client = second.client()
            for index in range(args.queues):
                with contextlib.suppress(exceptions.AlreadyExists):
                    client.create_queue(
                        parent=PARENT, queue={"name": queue_name(index), "retry_config": RETRY}
                    )  # AlreadyExists: the data directory kept it
            for queue, ids in unacknowledged:
                acknowledged.update(create_batch(client, url, queue, ids, retrying=True))
            wall = drain(url, len(acknowledged), args.timeout, began)
            left = settle_and_check_empty(second, args.queues)
            sampler.stop()
            after = second.rss_bytes()
            found = check(target_records(url), acknowledged, crash=(killed, args.crash_window))
    report(
        "durability: SIGKILL and restart on --data-dir",
        found,
        (before, sampler.peak, after),
        wall,
        left,
    )
    return found.ok and not left


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queues", type=int, default=50)
    parser.add_argument("--tasks", type=int, default=2000, help="tasks per queue")
    parser.add_argument("--fail-rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=8, help="concurrent batch calls")
    parser.add_argument("--timeout", type=float, default=900, help="seconds for the drain")
    parser.add_argument("--data-dir", default="", help="for the durability scenario")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the plain run")
    parser.add_argument(
        "--tombstone-ttl", default="30s", help="the emulator's --task-tombstone-ttl (plain run)"
    )
    parser.add_argument(
        "--max-growth",
        type=float,
        default=0.05,
        help="how much RSS may grow from the second round's end to the last's (0.05: 5 %%)",
    )
    parser.add_argument(
        "--crash-window",
        type=float,
        default=1.0,
        help="seconds before the kill in which a success may go unrecorded",
    )
    args = parser.parse_args()
    ok = plain_run(args)
    supported, why = data_dir_supported()
    if not supported:
        print(f"durability scenario skipped: {why}")
    else:
        with contextlib.ExitStack() as stack:
            data_dir = args.data_dir or stack.enter_context(tempfile.TemporaryDirectory())
            ok = crash_run(args, data_dir) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
