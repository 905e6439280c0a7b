"""Process start-up and shutdown: time to the ready line, and to exit after SIGTERM/SIGINT.

python bench/bench_process.py [--runs 6]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=6)
    args = parser.parse_args()
    ready, stopped = [], []
    for run in range(args.runs):
        sig = signal.SIGTERM if run % 2 == 0 else signal.SIGINT
        began = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "emulator", "--port", "0", "--http-port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdout is not None
        proc.stdout.readline()
        ready.append(time.perf_counter() - began)
        signalled = time.perf_counter()
        proc.send_signal(sig)
        proc.wait()
        stopped.append(time.perf_counter() - signalled)
        proc.stdout.close()
    print(
        f"start to ready line: median {statistics.median(ready) * 1000:.0f} ms; "
        f"exit after a signal: median {statistics.median(stopped) * 1000:.0f} ms, "
        f"max {max(stopped) * 1000:.0f} ms ({args.runs} runs)"
    )


if __name__ == "__main__":
    main()
