#!/usr/bin/env bash
# The compose file's emulator delivers to a handler on the host, as the docs tell users to
# write it: the task's URL is http://host.docker.internal:PORT/..., which the compose file's
# `extra_hosts: host.docker.internal:host-gateway` resolves to the host. The producer runs on
# the host too, told only CLOUD_TASKS_EMULATOR_HOST=127.0.0.1:8124 (the published port).
# Runs after ci-docker-smoke.sh, on the image it built; starts dockerd again if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
started=""
worker=""
if ! docker info >/dev/null 2>&1; then
  dockerd --data-root "${DOCKER_DATA_ROOT:-/var/lib/docker}" >/tmp/dockerd-host.log 2>&1 &
  started=$!
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
fi
cleanup() {
  set +e
  [ -n "$worker" ] && kill "$worker" 2>/dev/null
  docker compose logs emulator 2>/dev/null | tail -5
  docker compose down -t 3 --remove-orphans >/dev/null 2>&1
  if [ -n "$started" ]; then kill -TERM "$started"; wait "$started"; fi
}
trap cleanup EXIT

# The host's address on Docker's default bridge: what host-gateway resolves to.
gateway=$(docker network inspect bridge -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}')
"$PY" examples/worker.py --host "$gateway" --port 18080 --exit-after 1 >/tmp/host-worker.log 2>&1 &
worker=$!

docker compose up -d --no-build --pull never emulator
for _ in $(seq 1 60); do
  [ "$(docker inspect -f '{{.State.Health.Status}}' "$(docker compose ps -q emulator)")" = healthy ] && break
  sleep 0.5
done
CLOUD_TASKS_EMULATOR_HOST=127.0.0.1:8124 timeout 60 "$PY" examples/producer.py \
  --worker http://host.docker.internal:18080 --queue projects/local-project/locations/us-central1/queues/to-host
if ! timeout 60 tail --pid="$worker" -f /dev/null; then
  echo "the handler on the host received nothing"; cat /tmp/host-worker.log; exit 1
fi
wait "$worker" || { echo "the host's worker failed"; cat /tmp/host-worker.log; exit 1; }
worker=""
echo "the handler on the host received the task through host.docker.internal"
