#!/usr/bin/env bash
# `docker stop` with an attempt in flight: the emulator lets the attempt finish, records
# its outcome, and exits 0 well inside Docker's 10 s. Runs after ci-docker-smoke.sh, on the
# image it built (cloud-tasks-emulator:local); starts dockerd again if it is not running.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=cloud-tasks-emulator:local
started=""
if ! docker info >/dev/null 2>&1; then
  dockerd --data-root "${DOCKER_DATA_ROOT:-/var/lib/docker}" >/tmp/dockerd-stop.log 2>&1 &
  started=$!
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
fi
cleanup() {
  set +e
  docker rm -f cte-emulator cte-slow >/dev/null 2>&1
  docker network rm cte >/dev/null 2>&1
  if [ -n "$started" ]; then kill -TERM "$started"; wait "$started"; fi
}
trap cleanup EXIT

docker network create cte >/dev/null
# A handler that takes 3 s to answer.
docker run -d --name cte-slow --network cte --entrypoint python "$IMAGE" -c '
import http.server, time
class Slow(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        print("received", flush=True)
        time.sleep(3)
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
http.server.HTTPServer(("0.0.0.0", 8080), Slow).serve_forever()
' >/dev/null
docker run -d --name cte-emulator --network cte "$IMAGE" >/dev/null
for _ in $(seq 1 60); do
  [ "$(docker inspect -f '{{.State.Health.Status}}' cte-emulator)" = healthy ] && break
  sleep 0.5
done
# An unmodified client inside the container, told only CLOUD_TASKS_EMULATOR_HOST.
docker exec -e CLOUD_TASKS_EMULATOR_HOST=127.0.0.1:8124 cte-emulator python -c '
from google.cloud import tasks_v2
client = tasks_v2.CloudTasksClient()
parent = "projects/ci/locations/us-central1"
queue = client.create_queue(parent=parent, queue={"name": parent + "/queues/slow"})
client.create_task(parent=queue.name, task={"http_request": {"url": "http://cte-slow:8080/"}})
'
for _ in $(seq 1 60); do docker logs cte-slow 2>&1 | grep -q received && break; sleep 0.2; done
begin=$(date +%s%N)
docker stop -t 10 cte-emulator >/dev/null
took=$(( ($(date +%s%N) - begin) / 1000000 ))
code=$(docker inspect -f '{{.State.ExitCode}}' cte-emulator)
logs=$(docker logs cte-emulator 2>&1)
echo "$logs" | tail -4
echo "docker stop took ${took} ms, exit code $code"
[ "$code" = 0 ] || { echo "the emulator did not exit 0"; exit 1; }
echo "$logs" | grep -q "queue=slow .*status=200" || { echo "the attempt in flight was not settled"; exit 1; }
