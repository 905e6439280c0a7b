"""The do-nothing baselines, each in a process of its own:

- `grpc`: a grpc.aio server whose CreateTask (and CreateQueue, PauseQueue, GetQueue,
  ListQueues) parse the request and answer a canned message: for CreateTask, a task of
  the shape the emulator answers (name, times, deadline, URL, method, User-Agent, BASIC
  view), so the client reads as much on both sides and only the server's work differs.
- `rest`: an aiohttp app answering every REST call with that task's JSON.
- `grpc-bare`: the least a gRPC server can be, for start-up times: grpc.aio alone, no
  message types imported, an empty answer (a valid empty ListQueuesResponse) to any call.

    python bench/null_server.py grpc|rest|grpc-bare PORT
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import grpc

SERVICE = "google.cloud.tasks.v2.CloudTasks"
TASK = {
    "name": "projects/bench/locations/us-central1/queues/q/tasks/8419227213962217533",
    "http_request": {
        "url": "http://127.0.0.1:9/x",
        "http_method": "POST",
        "headers": {"User-Agent": "Google-Cloud-Tasks"},
    },
    "schedule_time": "2026-12-05T10:00:00.123456Z",
    "create_time": "2026-12-05T10:00:00Z",
    "dispatch_deadline": "600s",
    "view": "BASIC",
}


def _methods() -> dict[str, tuple[Any, bytes]]:
    from google.cloud.tasks_v2.types import cloudtasks, task
    from google.protobuf import json_format

    canned_task = json_format.ParseDict(TASK, task.Task.pb()()).SerializeToString()
    return {
        "CreateTask": (cloudtasks.CreateTaskRequest.pb(), canned_task),
        "CreateQueue": (cloudtasks.CreateQueueRequest.pb(), b""),
        "GetQueue": (cloudtasks.GetQueueRequest.pb(), b""),
        "PauseQueue": (cloudtasks.PauseQueueRequest.pb(), b""),
        "ListQueues": (cloudtasks.ListQueuesRequest.pb(), b""),
    }


def _handler(request_type: Any, answer: bytes) -> grpc.RpcMethodHandler:  # type: ignore[type-arg]
    async def handle(raw: bytes, context: object) -> bytes:
        request_type.FromString(raw)
        return answer

    return grpc.unary_unary_rpc_method_handler(handle)


class _AnyMethod(grpc.GenericRpcHandler):  # type: ignore[misc]
    """`grpc-bare`: every method answers empty bytes."""

    def service(self, details: Any) -> Any:
        async def handle(raw: bytes, context: object) -> bytes:
            return b""

        return grpc.unary_unary_rpc_method_handler(handle)


async def serve_grpc(port: int, *, bare: bool = False) -> None:
    server = grpc.aio.server()
    if bare:
        server.add_generic_rpc_handlers([_AnyMethod()])
    else:
        handlers = {name: _handler(req, answer) for name, (req, answer) in _methods().items()}
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


async def serve_rest(port: int) -> None:
    from aiohttp import web
    from google.cloud.tasks_v2.types import task
    from google.protobuf import json_format

    answer = json_format.MessageToDict(json_format.ParseDict(TASK, task.Task.pb()()))

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response(answer)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "rest":
        asyncio.run(serve_rest(port))
    else:
        asyncio.run(serve_grpc(port, bare=kind == "grpc-bare"))
