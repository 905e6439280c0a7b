"""The gRPC port's handlers: CloudTasks, the Locations and Operations mixins, and health.

Each RPC table (`emulator.service.tables`) becomes one generic handler per service. Requests
arrive as raw bytes and are parsed inside the handler, so a malformed message becomes
INVALID_ARGUMENT rather than gRPC's generic deserialization failure.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from emulator.core import errors, limits
from emulator.grpc.status import to_grpc_status
from emulator.service.tables import CLOUD_TASKS, MethodTable, ServiceMethod

log = logging.getLogger("emulator.grpc")
health_aio: Any = health.aio  # type: ignore[attr-defined]  # untyped submodule


def nothing_to_commit() -> None:
    return None


def unary_handler(
    rpc: str,
    request_type: Any,
    method: ServiceMethod,
    commit: Callable[[], None] = nothing_to_commit,
) -> grpc.RpcMethodHandler[bytes, bytes]:
    """`commit` (`Store.commit`) runs before every answer: what a client is told is on
    disk first (--data-dir)."""

    async def handle(raw: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        failure: errors.ApiError
        try:
            request = request_type.FromString(raw)
        except DecodeError:
            failure = errors.InvalidArgument(
                f"The request could not be parsed as a {request_type.DESCRIPTOR.full_name}."
            )
        else:
            try:
                response = method(request)
                if inspect.isawaitable(response):
                    response = await response
                commit()
                return bytes(response.SerializeToString())
            except errors.ApiError as error:
                failure = error
            except Exception:
                log.exception("%s failed unexpectedly", rpc)
                failure = errors.Internal(f"{rpc} failed inside the emulator; see its log.")
        try:
            commit()  # an error may show a change too (a name reserved, a queue gone)
        except errors.ApiError as error:
            failure = error
        # abort_with_status is missing from the grpc stubs' aio context.
        abort: Any = context
        await abort.abort_with_status(to_grpc_status(failure))
        raise AssertionError("abort_with_status returned")  # pragma: no cover

    return grpc.unary_unary_rpc_method_handler(handle)


def generic_handlers(
    services: dict[str, MethodTable], commit: Callable[[], None] = nothing_to_commit
) -> list[grpc.GenericRpcHandler]:  # type: ignore[type-arg]
    """One generic handler per gRPC service name; `commit` runs before every answer."""
    return [
        grpc.method_handlers_generic_handler(
            service,
            {
                rpc: unary_handler(f"{service}/{rpc}", request_type, method, commit)
                for rpc, (request_type, method) in table.items()
            },
        )
        for service, table in services.items()
    ]


class LazyService(grpc.GenericRpcHandler):  # type: ignore[type-arg]
    """A gRPC service whose table is built with its first call (v2beta3: its message
    types are loaded then, not at start-up). Added after the others: their calls never
    reach it."""

    def __init__(
        self,
        service: str,
        table: Callable[[], MethodTable],
        commit: Callable[[], None] = nothing_to_commit,
    ) -> None:
        self._prefix = f"/{service}/"
        self._table = table
        self._commit = commit
        self._handlers: dict[str, grpc.RpcMethodHandler[bytes, bytes]] | None = None

    def service(self, details: grpc.HandlerCallDetails) -> Any:
        method: str = details.method
        if not method.startswith(self._prefix):
            return None
        if self._handlers is None:
            self._handlers = {
                rpc: unary_handler(f"{self._prefix[1:]}{rpc}", request_type, call, self._commit)
                for rpc, (request_type, call) in self._table().items()
            }
        return self._handlers.get(method.removeprefix(self._prefix))


def add_health(server: grpc.aio.Server) -> Any:
    servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    return servicer


async def mark_serving(servicer: Any) -> None:
    for service in ("", CLOUD_TASKS):
        await servicer.set(service, health_pb2.HealthCheckResponse.SERVING)


def new_server() -> grpc.aio.Server:
    """The emulator's gRPC server, with its limits."""
    return grpc.aio.server(
        options=[
            # No SO_REUSEPORT: a second emulator on a taken port must fail, not share it.
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", limits.MAX_REQUEST_BYTES),
            ("grpc.max_send_message_length", limits.MAX_REQUEST_BYTES),
            # One metadata limit, not gRPC's soft one (8 KiB, past which it refuses
            # calls at random) below a hard one: the same call always gets one answer.
            ("grpc.max_metadata_size", limits.MAX_METADATA_BYTES),
            ("grpc.absolute_max_metadata_size", limits.MAX_METADATA_BYTES),
        ]
    )
