"""The /_emulator/ control endpoints over HTTP: reset, advance, wait until idle, read
attempts, the clock (docs/testing.md), production's rough edges (docs/production-parity.md);
or, switched off (--no-control), NOT_FOUND."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from emulator.core import errors
from emulator.core.clock import rfc3339
from emulator.core.rough_edges import RoughEdgesState, from_mapping
from emulator.http import rest_json
from emulator.service.control import (
    DEFAULT_ADVANCE_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT,
    Control,
    attempt_json,
)

CONTROL = web.AppKey("control", Control)


async def _body(request: web.Request) -> dict[str, Any]:
    return rest_json.load_object(await request.read()) if request.can_read_body else {}


def _json_seconds(body: dict[str, Any], key: str, default: float) -> float:
    value = body.get(key, default)
    # Python's JSON parser takes NaN and Infinity, and 1e400 is an infinite float.
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise errors.InvalidArgument(f'"{key}" must be a non-negative number of seconds.')
    return float(value)


def _time(text: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise errors.InvalidArgument(f'"to" is not an RFC 3339 time: {text!r}.') from None


def _query_number(request: web.Request, key: str, default: float) -> float:
    text = request.query.get(key)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1
    # float() reads "nan", "inf" and "1e400" too: none is a count or a timeout.
    if not math.isfinite(value) or value < 0 or (key == "min_count" and not value.is_integer()):
        raise errors.InvalidArgument(f'"{key}" must be a non-negative number, got "{text}".')
    return value


async def _reset(request: web.Request) -> web.Response:
    request.app[CONTROL].reset()
    return web.json_response({})


async def _advance(request: web.Request) -> web.Response:
    body = await _body(request)
    try:
        by = timedelta(seconds=_json_seconds(body, "seconds", 0)) if "seconds" in body else None
    except OverflowError:
        raise errors.InvalidArgument('"seconds" is too large.') from None
    to = _time(body["to"]) if "to" in body else None
    timeout = _json_seconds(body, "timeout", DEFAULT_ADVANCE_TIMEOUT)
    now = await request.app[CONTROL].advance(by, to=to, timeout=timeout)
    return web.json_response({"now": rfc3339(now)})


async def _wait_until_idle(request: web.Request) -> web.Response:
    body = await _body(request)
    await request.app[CONTROL].wait_until_idle(_json_seconds(body, "timeout", DEFAULT_IDLE_TIMEOUT))
    return web.json_response({})


async def _attempts(request: web.Request) -> web.Response:
    control = request.app[CONTROL]
    queue, task = request.query.get("queue"), request.query.get("task")
    unknown = sorted(set(request.query) - {"queue", "task", "min_count", "timeout"})
    if unknown:
        raise errors.InvalidArgument(f"Unknown query parameters: {', '.join(unknown)}.")
    if "min_count" in request.query:
        count = _query_number(request, "min_count", 0)
        timeout = _query_number(request, "timeout", DEFAULT_IDLE_TIMEOUT)
        entries = await control.wait_for_attempts(int(count), queue, task, timeout)
    else:
        entries = control.attempts(queue, task)
    return web.json_response({"attempts": [attempt_json(e) for e in entries]})


async def _clock(request: web.Request) -> web.Response:
    clock = request.app[CONTROL].clock
    return web.json_response({"now": rfc3339(clock.now()), "virtual": clock.can_advance})


def _rough_edges_json(state: RoughEdgesState) -> web.Response:
    return web.json_response(
        {
            "rough_edges": state.rough_edges.to_json(),
            "own": state.own,
            "enforced_rate": state.enforced_rate,
        }
    )


async def _get_rough_edges(request: web.Request) -> web.Response:
    unknown = sorted(set(request.query) - {"queue"})
    if unknown:
        raise errors.InvalidArgument(f"Unknown query parameters: {', '.join(unknown)}.")
    return _rough_edges_json(request.app[CONTROL].rough_edges(request.query.get("queue")))


async def _set_rough_edges(request: web.Request) -> web.Response:
    """`{"queue": "emails", "rough_edges": {"duplicates": 0.01, ...}}`: `queue` absent for
    every queue without its own; `rough_edges` absent or null for the start-up settings."""
    body = await _body(request)
    unknown = sorted(set(body) - {"queue", "rough_edges"})
    if unknown:
        raise errors.InvalidArgument(f"Unknown fields: {', '.join(unknown)}.")
    queue, raw = body.get("queue"), body.get("rough_edges")
    if queue is not None and not isinstance(queue, str):
        raise errors.InvalidArgument('"queue" must be a queue id or name.')
    if raw is not None and not isinstance(raw, dict):
        raise errors.InvalidArgument('"rough_edges" must be an object (or null).')
    try:
        edges = from_mapping(raw) if raw is not None else None
    except ValueError as error:
        raise errors.InvalidArgument(str(error)) from None
    return _rough_edges_json(request.app[CONTROL].set_rough_edges(queue, edges))


async def _control_off(request: web.Request) -> web.Response:
    raise errors.NotFound(
        "The test-control endpoints are switched off (--no-control / "
        "CLOUD_TASKS_EMULATOR_NO_CONTROL)."
    )


def add_to(app: web.Application, control: Control, *, enabled: bool = True) -> None:
    if not enabled:
        app.router.add_route("*", "/_emulator/{rest:.*}", _control_off)
        return
    app[CONTROL] = control
    app.router.add_post("/_emulator/reset", _reset)
    app.router.add_post("/_emulator/advance", _advance)
    app.router.add_post("/_emulator/wait-until-idle", _wait_until_idle)
    app.router.add_get("/_emulator/attempts", _attempts)
    app.router.add_get("/_emulator/clock", _clock)
    app.router.add_get("/_emulator/rough-edges", _get_rough_edges)
    app.router.add_put("/_emulator/rough-edges", _set_rough_edges)
