#!/usr/bin/env bash
# Production parity in compose (examples/production-parity/docker-compose.yml): the producer
# enqueues tasks for https://worker-xyz-uc.a.run.app/tasks/email with OIDC tokens, the
# emulator's route (CLOUD_TASKS_EMULATOR_ROUTE) sends them to the worker container with
# the production Host header and audience, and the worker verifies the audience against
# its production URL with google-auth. The producer judges the outcome and its exit code
# is this step's: the worker accepted its task, and the task whose audience carries a query
# string got Cloud Run's 401 without reaching the worker.
# Runs after ci-docker-smoke.sh, on the image it built; starts dockerd again if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
COMPOSE=(docker compose -f examples/production-parity/docker-compose.yml)
started=""
if ! docker info >/dev/null 2>&1; then
  dockerd --data-root "${DOCKER_DATA_ROOT:-/var/lib/docker}" >/tmp/dockerd-parity.log 2>&1 &
  started=$!
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
fi
cleanup() {
  set +e
  "${COMPOSE[@]}" logs --no-color emulator worker 2>/dev/null | tail -20
  "${COMPOSE[@]}" down -t 3 --remove-orphans >/dev/null 2>&1
  if [ -n "$started" ]; then kill -TERM "$started"; wait "$started"; fi
}
trap cleanup EXIT

"${COMPOSE[@]}" config -q
"${COMPOSE[@]}" up --no-build --pull never --abort-on-container-exit --exit-code-from producer
echo "production URLs and audiences worked unchanged through the emulator's route"
