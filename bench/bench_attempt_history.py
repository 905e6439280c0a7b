"""The emulator's memory over many deliveries, with the attempt history bounded or not.

Each run starts `cloud-tasks-emulator` in its own process, feeds it tasks with a 1 KiB
body in rounds (20 queues, BatchCreateTasks), lets every round be delivered to a target
in another process, and reads the emulator's resident memory after each round. With the
default bound (10,000 attempts kept) memory levels off; unbounded, it grows with every
delivery, since each attempt keeps its headers and body.

Finished tasks' names stay reserved for --task-tombstone-ttl (default 1 h), and that
memory is the service's rule, not the history's: the runs use a 5 s TTL so the reserved
names reach their steady state within the run (pass --tombstone-ttl 1h to see both).

    python bench/bench_attempt_history.py [--deliveries 200000] [--rounds 10]
"""

from __future__ import annotations

import argparse

from common import emulator_process, mib, target_process

PARENT = "projects/bench/locations/us-central1"
QUEUES = 20
BODY = b"x" * 1024


def run(label: str, history: str, url: str, args: argparse.Namespace) -> None:
    deliveries, rounds = args.deliveries, args.rounds
    flags = ("--attempt-history", history, "--task-tombstone-ttl", args.tombstone_ttl)
    with emulator_process(*flags) as emulator:
        client = emulator.client()
        names = [f"{PARENT}/queues/q{i}" for i in range(QUEUES)]
        for name in names:
            client.create_queue(parent=PARENT, queue={"name": name})
        per_round = deliveries // rounds
        samples = [emulator.rss_bytes()]
        for _ in range(rounds):
            for start in range(0, per_round, 100):
                name = names[(start // 100) % QUEUES]
                requests = [
                    {"parent": name, "task": {"http_request": {"url": url, "body": BODY}}}
                    for _ in range(min(100, per_round - start))
                ]
                client.batch_create_tasks(parent=name, requests=requests).result()
            emulator.wait_until_idle()
            samples.append(emulator.rss_bytes())
        growth = samples[-1] - samples[len(samples) // 2]
        print(
            f"{label:<28} RSS start {mib(samples[0])}, after each round: "
            + ", ".join(mib(s) for s in samples[1:])
            + f"; second half grew {mib(growth)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--tombstone-ttl", default="5s")
    args = parser.parse_args()
    with target_process() as url:
        run("--attempt-history 10000", "10000", url, args)
        run("--attempt-history 0", "0", url, args)
        run("unbounded (10**9)", str(10**9), url, args)


if __name__ == "__main__":
    main()
