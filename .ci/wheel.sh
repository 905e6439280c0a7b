#!/usr/bin/env bash
# The package as a user installs it: `python -m build` makes the sdist and, from it, the
# wheel; both must carry everything (the .pth, the dashboard's templates and static
# files, the generated control-service code, the .proto). The wheel is installed into a
# clean venv (no checkout on the path), `cloud-tasks-emulator` is started from it, and the
# unmodified example producer, told nothing but CLOUD_TASKS_EMULATOR_HOST, enqueues a task
# that the example worker receives.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d /tmp/wheel-check.XXXXXX)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
step() { echo "== wheel: $*"; }

step "python -m build (sdist, then the wheel from the sdist)"
python3 -m venv "$work/tools"
"$work/tools/bin/pip" install -q build
"$work/tools/bin/python" -m build -q --outdir "$work/dist" . >/dev/null 2>&1 || "$work/tools/bin/python" -m build --outdir "$work/dist" .
ls "$work/dist"

step "both carry everything"
"$work/tools/bin/python" - "$work/dist" <<'PY'
import sys, tarfile, zipfile
from pathlib import Path

dist = Path(sys.argv[1])
needed = [
    "cloud_tasks_emulator.pth",
    "emulator/control_pb2.py",
    "emulator/control_pb2.pyi",
    "emulator/py.typed",
    "emulator/protos/cloud_tasks_emulator/v1/control.proto",
    "emulator/http/dashboard/templates/base.html",
    "emulator/http/dashboard/templates/task.html",
    "emulator/http/dashboard/static/app.js",
    "emulator/http/dashboard/static/style.css",
]
(wheel,) = dist.glob("*.whl")
(sdist,) = dist.glob("*.tar.gz")
in_wheel = set(zipfile.ZipFile(wheel).namelist())
in_sdist = {name.split("/", 1)[1] for name in tarfile.open(sdist).getnames() if "/" in name}
missing = [f"wheel: {n}" for n in needed if n not in in_wheel]
missing += [f"sdist: {n}" for n in needed if n not in in_sdist]
missing += [f"sdist: {n}" for n in ("LICENSE", "CHANGELOG.md", "README.md") if n not in in_sdist]
if missing:
    sys.exit("missing from the distributions:\n  " + "\n  ".join(missing))
print(f"{wheel.name}: {len(in_wheel)} files; {sdist.name}: {len(in_sdist)} files")
PY

step "install the wheel into a clean venv"
python3 -m venv "$work/app"
"$work/app/bin/pip" install -q "$work"/dist/*.whl
cp examples/producer.py examples/worker.py "$work/"
cd "$work"   # nothing of the checkout is importable from here

step "serve from the console script, deliver to the example worker"
"$work/app/bin/cloud-tasks-emulator" --port 18123 --http-port 18124 >"$work/emulator.log" 2>&1 &
pids+=($!)
"$work/app/bin/python" worker.py --host 127.0.0.1 --port 18080 --exit-after 1 >"$work/worker.log" 2>&1 &
worker=$!
pids+=("$worker")
for _ in $(seq 1 100); do
  "$work/app/bin/cloud-tasks-emulator" --healthcheck --http-port 18124 2>/dev/null && break
  sleep 0.1
done
CLOUD_TASKS_EMULATOR_HOST=127.0.0.1:18124 timeout 60 "$work/app/bin/python" producer.py \
  --worker http://127.0.0.1:18080 --queue projects/local-project/locations/us-central1/queues/emails
if ! timeout 60 tail --pid="$worker" -f /dev/null; then
  echo "the worker did not receive the task"; cat "$work/emulator.log" "$work/worker.log"; exit 1
fi
wait "$worker" || { echo "the worker failed"; cat "$work/worker.log"; exit 1; }
cd "$root"
rm -rf "$work"
step "ok"
