"""The REST/JSON surface (google.api.http mapping of every v2 RPC) on the HTTP port.

Each route names its HTTP method, its URL template (as in the protos' annotations), the
request message, which part of it the JSON body fills, and the service method: the same
methods the gRPC handlers call, so both surfaces share one set of rules. JSON is proto3
JSON: camelCase names, enums as names or numbers, bytes in base64; responses carry enum
names. Errors are the Google JSON error envelope.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from google.cloud.location import locations_pb2
from google.protobuf import json_format

from emulator import errors
from emulator.api import pb
from emulator.api.batch import BatchService
from emulator.api.iam import IamService
from emulator.api.locations import LocationsService
from emulator.api.service import CloudTasksService
from emulator.api.status import to_json_envelope

log = logging.getLogger("emulator.rest")

# Query parameters that only steer the response encoding, which is always JSON here.
_IGNORED_QUERY = {"$alt", "alt", "prettyPrint", "$prettyPrint", "fields", "key", "$fields"}


def _compile(template: str) -> tuple[re.Pattern[str], list[str]]:
    """`/v2/{parent=projects/*/locations/*}/queues` -> a regex and its field paths."""
    fields: list[str] = []
    pattern = ""
    for literal, name, segments in re.findall(r"([^{]*)(?:\{([\w.]+)=([^}]+)\})?", template):
        pattern += re.escape(literal)
        if name:
            fields.append(name)
            pattern += (
                "("
                + "/".join("[^/]+?" if s == "*" else re.escape(s) for s in segments.split("/"))
                + ")"
            )
    return re.compile(pattern), fields


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    request_type: Any
    body: str | None  # "*": the whole request; a field name; None: no body
    handler: Callable[[Any], Any]
    regex: re.Pattern[str] = field(init=False)
    fields: list[str] = field(init=False)  # request fields the URL's variables fill

    def __post_init__(self) -> None:
        regex, fields = _compile(self.template)
        object.__setattr__(self, "regex", regex)
        object.__setattr__(self, "fields", fields)

    def match(self, path: str) -> list[str] | None:
        m = self.regex.fullmatch(path)
        return list(m.groups()) if m else None


def routes(
    tasks: CloudTasksService,
    iam: IamService,
    batch: BatchService,
    locations: LocationsService,
    version: str = "v2",
) -> list[Route]:
    queue = "projects/*/locations/*/queues/*"
    task = f"{queue}/tasks/*"
    v = f"/{version}"
    return [
        Route("GET", v + "/{parent=projects/*/locations/*}/queues", pb.ListQueuesRequest, None, tasks.list_queues),
        Route("POST", v + "/{parent=projects/*/locations/*}/queues", pb.CreateQueueRequest, "queue", tasks.create_queue),
        Route("GET", v + "/{name=" + queue + "}", pb.GetQueueRequest, None, tasks.get_queue),
        Route("PATCH", v + "/{queue.name=" + queue + "}", pb.UpdateQueueRequest, "queue", tasks.update_queue),
        Route("DELETE", v + "/{name=" + queue + "}", pb.DeleteQueueRequest, None, tasks.delete_queue),
        Route("POST", v + "/{name=" + queue + "}:purge", pb.PurgeQueueRequest, "*", tasks.purge_queue),
        Route("POST", v + "/{name=" + queue + "}:pause", pb.PauseQueueRequest, "*", tasks.pause_queue),
        Route("POST", v + "/{name=" + queue + "}:resume", pb.ResumeQueueRequest, "*", tasks.resume_queue),
        Route("POST", v + "/{resource=" + queue + "}:getIamPolicy", pb.GetIamPolicyRequest, "*", iam.get_iam_policy),
        Route("POST", v + "/{resource=" + queue + "}:setIamPolicy", pb.SetIamPolicyRequest, "*", iam.set_iam_policy),
        Route("POST", v + "/{resource=" + queue + "}:testIamPermissions", pb.TestIamPermissionsRequest, "*", iam.test_iam_permissions),
        Route("GET", v + "/{parent=" + queue + "}/tasks", pb.ListTasksRequest, None, tasks.list_tasks),
        Route("POST", v + "/{parent=" + queue + "}/tasks", pb.CreateTaskRequest, "*", tasks.create_task),
        Route("POST", v + "/{parent=" + queue + "}/tasks:batchCreate", pb.BatchCreateTasksRequest, "*", batch.batch_create_tasks),
        Route("POST", v + "/{parent=" + queue + "}/tasks:batchDelete", pb.BatchDeleteTasksRequest, "*", batch.batch_delete_tasks),
        Route("POST", v + "/{queue=" + queue + "}/tasks:buffer", BufferTaskRequest, "*", tasks.buffer_task),
        Route("POST", v + "/{queue=" + queue + "}/tasks/{task_id=*}:buffer", BufferTaskRequest, "*", tasks.buffer_task),
        Route("GET", v + "/{name=" + task + "}", pb.GetTaskRequest, None, tasks.get_task),
        Route("DELETE", v + "/{name=" + task + "}", pb.DeleteTaskRequest, None, tasks.delete_task),
        Route("POST", v + "/{name=" + task + "}:run", pb.RunTaskRequest, "*", tasks.run_task),
        Route("GET", v + "/{name=projects/*/locations/*/cmekConfig}", pb.GetCmekConfigRequest, None, tasks.get_cmek_config),
        Route("PATCH", v + "/{cmek_config.name=projects/*/locations/*/cmekConfig}", pb.UpdateCmekConfigRequest, "cmek_config", tasks.update_cmek_config),
        Route("GET", v + "/{name=projects/*/locations/*/operations/*}", pb.GetOperationRequest, None, batch.get_operation),
        Route("GET", v + "/{name=projects/*/locations/*}", locations_pb2.GetLocationRequest, None, locations.get_location),
        Route("GET", v + "/{name=projects/*}/locations", locations_pb2.ListLocationsRequest, None, locations.list_locations),
    ]  # fmt: skip


class BufferTaskRequest(dict[str, Any]):
    """BufferTask exists only in REST and has no message in the client library: its
    request is kept as the JSON document `{"queue", "task_id", "body": HttpBody}`."""

    DESCRIPTOR = None


def _set_path(message: Any, path: str, value: str) -> None:
    if isinstance(message, dict):
        message[path] = value
        return
    *parents, leaf = path.split(".")
    for part in parents:
        message = getattr(message, part)
    setattr(message, leaf, value)


def _parse_body(raw: bytes, message: Any) -> None:
    if not raw.strip():
        return
    try:
        json_format.Parse(raw, message)
    except json_format.ParseError as error:
        raise errors.InvalidArgument(f"Invalid JSON payload received. {error}") from None
    except (ValueError, UnicodeDecodeError) as error:  # e.g. bytes that are not UTF-8
        raise errors.InvalidArgument(f"Invalid JSON payload received. {error}") from None


def _apply_query(request: Any, query: Any) -> None:
    """Query parameters fill request fields (camelCase or snake_case names)."""
    params: dict[str, list[str]] = {}
    for key, text in query.items():
        if key not in _IGNORED_QUERY:
            params.setdefault(key, []).append(text)
    if not params:
        return
    by_name = {f.json_name: f for f in request.DESCRIPTOR.fields}
    by_name.update({f.name: f for f in request.DESCRIPTOR.fields})
    document: dict[str, Any] = {}
    for key, texts in params.items():
        descriptor = by_name.get(key)
        if descriptor is None:
            raise errors.InvalidArgument(
                f'Invalid JSON payload received. Unknown name "{key}": Cannot bind query '
                f"parameter. Field '{key}' could not be found in request message."
            )
        value: Any = texts if _repeated(descriptor) else texts[-1]
        if descriptor.type in (descriptor.TYPE_INT32, descriptor.TYPE_INT64):
            value = _int(key, value)
        elif descriptor.type == descriptor.TYPE_ENUM and value.isdigit():
            value = int(value)
        document[descriptor.json_name] = value
    _parse_body(json.dumps(document).encode(), request)


def _repeated(descriptor: Any) -> bool:
    if hasattr(descriptor, "is_repeated"):  # protobuf >= 6; `label` is gone in 7
        return bool(descriptor.is_repeated)
    return bool(descriptor.label == descriptor.LABEL_REPEATED)


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        document = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise errors.InvalidArgument("Invalid JSON payload received.") from None
    if not isinstance(document, dict):
        raise errors.InvalidArgument("Invalid JSON payload received: expected an object.")
    return document


def _int(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise errors.InvalidArgument(
            f"Invalid value at '{name}' (TYPE_INT32), \"{text}\""
        ) from None


class RestApi:
    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes

    async def handle(self, request: web.Request) -> web.Response:
        try:
            return await self._handle(request)
        except errors.ApiError as error:
            status, body = to_json_envelope(error)
            return web.json_response(body, status=status)
        except Exception:
            log.exception("%s %s failed unexpectedly", request.method, request.path)
            status, body = to_json_envelope(
                _Internal(
                    f"{request.method} {request.path} failed inside the emulator; see its log."
                )
            )
            return web.json_response(body, status=status)

    async def _handle(self, request: web.Request) -> web.Response:
        path = request.path
        matches = [
            (route, values) for route in self.routes if (values := route.match(path)) is not None
        ]
        chosen = next(((r, v) for r, v in matches if r.method == request.method), None)
        if chosen is None:
            if matches:
                allowed = ", ".join(sorted({r.method for r, _ in matches}))
                raise errors.NotFound(
                    f"No {request.method} method for {path}; this path takes {allowed}."
                )
            raise errors.NotFound(f"The requested URL {path} was not found on this server.")
        route, values = chosen
        message = route.request_type()
        raw = await request.read()
        if isinstance(message, dict):
            message.update(_json_object(raw))
        elif route.body == "*":
            _parse_body(raw, message)
        elif route.body is not None:
            _parse_body(raw, getattr(message, route.body))
        elif raw.strip() not in (b"", b"{}"):
            raise errors.InvalidArgument(f"{request.method} {path} takes no request body.")
        if not isinstance(message, dict):
            _apply_query(message, request.query)
        for name, value in zip(route.fields, values, strict=True):
            _set_path(message, name, value)  # the URL wins over the body
        response = route.handler(message)
        if inspect.isawaitable(response):
            response = await response
        if hasattr(response, "DESCRIPTOR"):
            return web.json_response(json_format.MessageToDict(response))
        return web.json_response({"task": json_format.MessageToDict(response.task)})


class _Internal(errors.ApiError):
    code = errors.Code.INTERNAL


def add_to(app: web.Application, api: RestApi, *versions: str) -> None:
    for version in versions:
        app.router.add_route("*", f"/{version}/{{path:.*}}", api.handle)
