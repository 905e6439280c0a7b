#!/usr/bin/env bash
# The Testcontainers module (emulator/testcontainers.py) against the image CI built: runs
# after ci-docker-smoke.sh, tags its image (cloud-tasks-emulator:local, from
# docker-compose.yml) as the module's default name, cloud-tasks-emulator:latest, and runs
# tests/test_testcontainers.py with CLOUD_TASKS_EMULATOR_REQUIRE_DOCKER=1, so a missing
# daemon or image fails instead of skipping. Starts dockerd again if it is not running.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
started=""
if ! docker info >/dev/null 2>&1; then
  dockerd --data-root "${DOCKER_DATA_ROOT:-/var/lib/docker}" >/tmp/dockerd-tc.log 2>&1 &
  started=$!
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
fi
cleanup() {
  set +e
  if [ -n "$started" ]; then kill -TERM "$started"; wait "$started"; fi
}
trap cleanup EXIT

docker tag cloud-tasks-emulator:local cloud-tasks-emulator:latest
# Ryuk (Testcontainers' reaper) is an image of its own, not downloadable here; the tests
# stop every container they start.
TESTCONTAINERS_RYUK_DISABLED=true CLOUD_TASKS_EMULATOR_REQUIRE_DOCKER=1 \
  "$PY" -m pytest -p no:cacheprovider tests/test_testcontainers.py
