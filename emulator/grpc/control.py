"""The EmulatorControl gRPC service (protos/cloud_tasks_emulator/v1/control.proto).

Its messages are `emulator.control_pb2`, generated from the .proto by protos/generate.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from typing import Any

import grpc

from emulator import control_pb2
from emulator.core import errors
from emulator.core.rough_edges import RoughEdges, RoughEdgesState
from emulator.grpc.server import nothing_to_commit, unary_handler
from emulator.service.control import DEFAULT_ADVANCE_TIMEOUT, DEFAULT_IDLE_TIMEOUT, Control
from emulator.service.times import duration, timestamp, to_datetime, to_timedelta
from emulator.store.records import Attempt


def _timeout_seconds(message: Any, field: str, default: float) -> float:
    if not message.HasField(field):
        return default
    return max(0.0, to_timedelta(getattr(message, field)).total_seconds())


def _attempt(entry: Attempt) -> Any:
    message = control_pb2.Attempt(
        project=entry.project,
        location=entry.location,
        queue=entry.queue,
        task=entry.task,
        attempt=entry.attempt,
        method=entry.method,
        url=entry.url,
        headers=entry.headers,
        body=entry.body,
        response_body=entry.response_body,
        schedule_time=timestamp(entry.schedule_time),
        dispatch_time=timestamp(entry.dispatch_time),
    )
    if entry.status is not None:
        message.status = entry.status
    if entry.error is not None:
        message.error = entry.error
    if entry.response_time is not None:
        message.response_time.CopyFrom(timestamp(entry.response_time))
    if entry.result is not None:
        message.result = entry.result
    if entry.next_attempt is not None:
        message.next_attempt.CopyFrom(timestamp(entry.next_attempt))
    if entry.backoff is not None:
        message.backoff = entry.backoff
    if entry.latency is not None:
        message.latency_seconds = entry.latency
    message.duplicate = entry.duplicate
    return message


def _rough_edges(message: Any) -> RoughEdges:
    """The control service's RoughEdges as ours; INVALID_ARGUMENT for a value out of range."""
    low, high = to_timedelta(message.latency_min), to_timedelta(message.latency_max)
    try:
        return RoughEdges(
            duplicates=message.duplicates,
            shuffle=message.shuffle,
            latency=(low, high) if high or low else None,
            throttle=message.throttle,
            seed=message.seed if message.HasField("seed") else None,
        )
    except ValueError as error:
        raise errors.InvalidArgument(f"rough_edges.{error}") from None


def _state(state: RoughEdgesState) -> Any:
    edges = state.rough_edges
    low, high = edges.latency or (None, None)
    message = control_pb2.RoughEdgesState(
        rough_edges=control_pb2.RoughEdges(
            duplicates=edges.duplicates,
            shuffle=edges.shuffle,
            latency_min=duration(low) if low is not None else None,
            latency_max=duration(high) if high is not None else None,
            throttle=edges.throttle,
            seed=edges.seed,
        ),
        own=state.own,
    )
    if state.enforced_rate is not None:
        message.enforced_rate = state.enforced_rate
    return message


def handler(
    control: Control, commit: Callable[[], None] = nothing_to_commit
) -> grpc.GenericRpcHandler:  # type: ignore[type-arg]
    """The control service; `commit` (`Store.commit`) runs before every answer."""

    def reset(request: Any) -> Any:
        control.reset()
        return control_pb2.ResetResponse()

    async def advance(request: Any) -> Any:
        kind = request.WhichOneof("target")
        now = await control.advance(
            to_timedelta(request.by) if kind == "by" else None,
            to=to_datetime(request.to) if kind == "to" else None,
            timeout=_timeout_seconds(request, "timeout", DEFAULT_ADVANCE_TIMEOUT),
        )
        return control_pb2.AdvanceResponse(now=timestamp(now.astimezone(UTC)))

    async def wait_until_idle(request: Any) -> Any:
        await control.wait_until_idle(_timeout_seconds(request, "timeout", DEFAULT_IDLE_TIMEOUT))
        return control_pb2.WaitUntilIdleResponse()

    async def list_attempts(request: Any) -> Any:
        queue, task = request.queue or None, request.task or None
        if request.min_count:
            timeout = _timeout_seconds(request, "timeout", DEFAULT_IDLE_TIMEOUT)
            entries = await control.wait_for_attempts(request.min_count, queue, task, timeout)
        else:
            entries = control.attempts(queue, task)
        return control_pb2.ListAttemptsResponse(attempts=[_attempt(e) for e in entries])

    def get_rough_edges(request: Any) -> Any:
        return _state(control.rough_edges(request.queue or None))

    def set_rough_edges(request: Any) -> Any:
        edges = _rough_edges(request.rough_edges) if request.HasField("rough_edges") else None
        return _state(control.set_rough_edges(request.queue or None, edges))

    methods: dict[str, tuple[Any, Callable[[Any], Any]]] = {
        "Reset": (control_pb2.ResetRequest, reset),
        "Advance": (control_pb2.AdvanceRequest, advance),
        "WaitUntilIdle": (control_pb2.WaitUntilIdleRequest, wait_until_idle),
        "ListAttempts": (control_pb2.ListAttemptsRequest, list_attempts),
        "GetRoughEdges": (control_pb2.GetRoughEdgesRequest, get_rough_edges),
        "SetRoughEdges": (control_pb2.SetRoughEdgesRequest, set_rough_edges),
    }
    return grpc.method_handlers_generic_handler(
        control_pb2.SERVICE,
        {
            rpc: unary_handler(f"{control_pb2.SERVICE}/{rpc}", request, method, commit)
            for rpc, (request, method) in methods.items()
        },
    )
