"""The Firebase task-queue route: what the Firebase Admin SDKs send to an emulator.

With `CLOUD_TASKS_EMULATOR_HOST=host:port` set, `firebase-admin` (Python and Node)
`task_queue(name).enqueue(...)` and `.delete(id)` talk to the address this way, as they
do to the Firebase emulator suite:

- `POST /projects/P/locations/L/queues/Q/tasks` with `{"task": {...}}` in v2 JSON, an
  `httpRequest.url` that is empty unless the caller gave a `uri`, an `oidcToken` and
  `Authorization: Bearer owner`. The answer is `{"task": {...}}` whose `name` starts
  with "/" (the Firebase emulator's form, which the Python SDK strips).
- `DELETE /projects/P/locations/L/queues/Q/tasks/ID`.

The SDKs never create queues, so a queue is created (with every default) on first use
on this route. A task without a URL is sent to the function's URL: `--firebase-function-url`,
by default the Firebase Functions emulator's `http://127.0.0.1:5001/{project}/{location}/{queue}`.
A repeated task id is 409 ALREADY_EXISTS, which both SDKs report as "task already exists".
"""

from __future__ import annotations

from aiohttp import web
from google.protobuf import json_format

from emulator.http import rest_json
from emulator.service import pb
from emulator.service.service import CloudTasksService
from emulator.store.names import QueueName

QUEUE_PATH = "/projects/{project}/locations/{location}/queues/{queue}/tasks"


class FirebaseRoute:
    def __init__(self, tasks: CloudTasksService, function_url: str) -> None:
        self.tasks = tasks
        self.function_url = function_url

    def _queue(self, request: web.Request) -> QueueName:
        info = request.match_info
        return QueueName.parse(
            f"projects/{info['project']}/locations/{info['location']}/queues/{info['queue']}"
        )

    async def enqueue(self, request: web.Request) -> web.Response:
        queue = self._queue(request)
        document = rest_json.load_object(await request.read())
        task = document.get("task")
        create = pb.CreateTaskRequest(parent=str(queue))
        rest_json.parse(task if task is not None else {}, create.task, "task")
        if not create.task.WhichOneof("message_type"):
            create.task.http_request.SetInParent()
        if not create.task.http_request.url:
            create.task.http_request.url = self.function_url.format(
                project=queue.project, location=queue.location, queue=queue.queue
            )
        self.tasks.ensure_queue(queue)
        created = json_format.MessageToDict(self.tasks.create_task(create))
        created["name"] = "/" + created["name"]
        return web.json_response({"task": created})

    async def delete(self, request: web.Request) -> web.Response:
        name = f"{self._queue(request)}/tasks/{request.match_info['task']}"
        self.tasks.delete_task(pb.DeleteTaskRequest(name=name))
        return web.json_response({})


def add_to(app: web.Application, route: FirebaseRoute) -> None:
    app.router.add_post(QUEUE_PATH, route.enqueue)
    app.router.add_delete(QUEUE_PATH + "/{task}", route.delete)
