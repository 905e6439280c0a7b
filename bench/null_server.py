"""The do-nothing baselines: a grpc.aio server whose CreateTask (and GetQueue, ListQueues,
PauseQueue, CreateQueue) parse the request and answer an empty message, and an aiohttp
app answering `{}` to every REST call. Each shows what the transport alone costs.

    python bench/null_server.py grpc PORT
    python bench/null_server.py rest PORT
"""

from __future__ import annotations

import asyncio
import sys

import grpc
from aiohttp import web
from google.cloud.tasks_v2.types import cloudtasks, queue, task

SERVICE = "google.cloud.tasks.v2.CloudTasks"
METHODS = {
    "CreateTask": (cloudtasks.CreateTaskRequest.pb(), task.Task.pb()),
    "CreateQueue": (cloudtasks.CreateQueueRequest.pb(), queue.Queue.pb()),
    "GetQueue": (cloudtasks.GetQueueRequest.pb(), queue.Queue.pb()),
    "PauseQueue": (cloudtasks.PauseQueueRequest.pb(), queue.Queue.pb()),
    "ListQueues": (cloudtasks.ListQueuesRequest.pb(), cloudtasks.ListQueuesResponse.pb()),
}


def _handler(request_type: type, response_type: type) -> grpc.RpcMethodHandler:  # type: ignore[type-arg]
    async def handle(raw: bytes, context: object) -> bytes:
        request_type.FromString(raw)  # type: ignore[attr-defined]
        return bytes(response_type().SerializeToString())

    return grpc.unary_unary_rpc_method_handler(handle)


async def serve_grpc(port: int) -> None:
    server = grpc.aio.server()
    handlers = {name: _handler(req, resp) for name, (req, resp) in METHODS.items()}
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


async def serve_rest(port: int) -> None:
    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    asyncio.run(serve_grpc(port) if kind == "grpc" else serve_rest(port))
