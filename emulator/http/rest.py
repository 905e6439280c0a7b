"""The REST/JSON surface (google.api.http mapping of every v2 RPC) on the HTTP port.

Each route names its HTTP method, its URL template (as in the protos' annotations), the
request message, which part of it the JSON body fills, and the service method: the same
methods the gRPC handlers call, so both surfaces share one set of rules. JSON is proto3
JSON: camelCase names, enums as names or numbers, bytes in base64; responses carry enum
names. Errors are the Google JSON error envelope.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from google.protobuf import json_format

from emulator.core import errors
from emulator.http import rest_json

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


# (HTTP method, URL template after the version, RPC, body) for every RPC with a REST
# mapping, as the protos' google.api.http annotations give them.
_QUEUE = "projects/*/locations/*/queues/*"
_TASK = f"{_QUEUE}/tasks/*"
MAPPINGS = [
    ("GET", "/{parent=projects/*/locations/*}/queues", "ListQueues", None),
    ("POST", "/{parent=projects/*/locations/*}/queues", "CreateQueue", "queue"),
    ("GET", "/{name=" + _QUEUE + "}", "GetQueue", None),
    ("PATCH", "/{queue.name=" + _QUEUE + "}", "UpdateQueue", "queue"),
    ("DELETE", "/{name=" + _QUEUE + "}", "DeleteQueue", None),
    ("POST", "/{name=" + _QUEUE + "}:purge", "PurgeQueue", "*"),
    ("POST", "/{name=" + _QUEUE + "}:pause", "PauseQueue", "*"),
    ("POST", "/{name=" + _QUEUE + "}:resume", "ResumeQueue", "*"),
    ("POST", "/{resource=" + _QUEUE + "}:getIamPolicy", "GetIamPolicy", "*"),
    ("POST", "/{resource=" + _QUEUE + "}:setIamPolicy", "SetIamPolicy", "*"),
    ("POST", "/{resource=" + _QUEUE + "}:testIamPermissions", "TestIamPermissions", "*"),
    ("GET", "/{parent=" + _QUEUE + "}/tasks", "ListTasks", None),
    ("POST", "/{parent=" + _QUEUE + "}/tasks", "CreateTask", "*"),
    ("POST", "/{parent=" + _QUEUE + "}/tasks:batchCreate", "BatchCreateTasks", "*"),
    ("POST", "/{parent=" + _QUEUE + "}/tasks:batchDelete", "BatchDeleteTasks", "*"),
    ("POST", "/{queue=" + _QUEUE + "}/tasks:buffer", "BufferTask", "*"),
    ("POST", "/{queue=" + _QUEUE + "}/tasks/{task_id=*}:buffer", "BufferTask", "*"),
    ("GET", "/{name=" + _TASK + "}", "GetTask", None),
    ("DELETE", "/{name=" + _TASK + "}", "DeleteTask", None),
    ("POST", "/{name=" + _TASK + "}:run", "RunTask", "*"),
    ("GET", "/{name=projects/*/locations/*/cmekConfig}", "GetCmekConfig", None),
    (
        "PATCH",
        "/{cmek_config.name=projects/*/locations/*/cmekConfig}",
        "UpdateCmekConfig",
        "cmek_config",
    ),
    ("GET", "/{name=projects/*/locations/*/operations/*}", "GetOperation", None),
    ("GET", "/{name=projects/*/locations/*}", "GetLocation", None),
    ("GET", "/{name=projects/*}/locations", "ListLocations", None),
]


def routes(table: dict[str, tuple[Any, Callable[[Any], Any]]], version: str) -> list[Route]:
    """REST routes under /`version` for the RPCs of a method table."""
    return [
        Route(method, f"/{version}{template}", table[rpc][0], body, table[rpc][1])
        for method, template, rpc, body in MAPPINGS
        if rpc in table
    ]


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


def _parse_body(raw: bytes, message: Any, path: str = "") -> None:
    if not raw.strip():
        return
    rest_json.parse(rest_json.load_object(raw), message, path)


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
        if descriptor.type == descriptor.TYPE_ENUM and value.isdigit():
            value = int(value)
        document[descriptor.json_name] = value
    rest_json.parse(document, request)


def _repeated(descriptor: Any) -> bool:
    if hasattr(descriptor, "is_repeated"):  # protobuf >= 6; `label` is gone in 7
        return bool(descriptor.is_repeated)
    return bool(descriptor.label == descriptor.LABEL_REPEATED)


class RestApi:
    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes
        self.by_method: dict[str, list[Route]] = {}
        for route in routes:
            self.by_method.setdefault(route.method, []).append(route)

    def _route(self, method: str, path: str) -> tuple[Route, list[str]]:
        for route in self.by_method.get(method, ()):
            values = route.match(path)
            if values is not None:
                return route, values
        allowed = sorted({r.method for r in self.routes if r.match(path) is not None})
        if allowed:
            raise errors.NotFound(
                f"No {method} method for {path}; this path takes {', '.join(allowed)}."
            )
        raise errors.NotFound(f"The requested URL {path} was not found on this server.")

    async def handle(self, request: web.Request) -> web.Response:
        """One REST call; errors are raised for the HTTP port's one error boundary."""
        path = request.path
        route, values = self._route(request.method, path)
        message = route.request_type()
        raw = await request.read()
        if isinstance(message, dict):
            message.update(rest_json.load_object(raw))
        elif route.body == "*":
            _parse_body(raw, message)
        elif route.body is not None:
            field = getattr(message, route.body)
            if raw.strip():
                field.SetInParent()  # `{}` is an empty message, not a missing one
            _parse_body(raw, field, route.body)
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


def add_to(app: web.Application, api: RestApi, *versions: str) -> None:
    for version in versions:
        app.router.add_route("*", f"/{version}/{{path:.*}}", api.handle)
