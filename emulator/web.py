"""The HTTP port: OIDC discovery, the /_emulator/ control endpoints (and later REST)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from emulator import __version__, errors
from emulator.api.status import to_json_envelope
from emulator.control import DEFAULT_ADVANCE_TIMEOUT, DEFAULT_IDLE_TIMEOUT, Control, attempt_json
from emulator.dispatch.tokens import JWKS_PATH, OPENID_CONFIGURATION_PATH, TokenMinter

GRPC_TARGET = web.AppKey("grpc_target", str)
MINTER = web.AppKey("minter", TokenMinter)
CONTROL = web.AppKey("control", Control)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.ApiError as error:
        status, body = to_json_envelope(error)
        return web.json_response(body, status=status)


async def _index(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "service": "cloud-tasks-emulator",
            "version": __version__,
            "grpc": request.app[GRPC_TARGET],
        }
    )


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def _openid_configuration(request: web.Request) -> web.Response:
    base = f"{request.scheme}://{request.host}"
    return web.json_response(request.app[MINTER].openid_configuration(base))


async def _jwks(request: web.Request) -> web.Response:
    return web.json_response(request.app[MINTER].jwks())


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = json.loads(await request.read() or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise errors.InvalidArgument("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise errors.InvalidArgument("The request body must be a JSON object.")
    return body


def _seconds(body: dict[str, Any], key: str, default: float) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise errors.InvalidArgument(f'"{key}" must be a non-negative number of seconds.')
    return float(value)


def _time(text: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise errors.InvalidArgument(f'"to" is not an RFC 3339 time: {text!r}.') from None


async def _reset(request: web.Request) -> web.Response:
    request.app[CONTROL].reset()
    return web.json_response({})


async def _advance(request: web.Request) -> web.Response:
    body = await _body(request)
    by = timedelta(seconds=_seconds(body, "seconds", 0)) if "seconds" in body else None
    to = _time(body["to"]) if "to" in body else None
    timeout = _seconds(body, "timeout", DEFAULT_ADVANCE_TIMEOUT)
    now = await request.app[CONTROL].advance(by, to=to, timeout=timeout)
    return web.json_response({"now": now.isoformat().replace("+00:00", "Z")})


async def _wait_until_idle(request: web.Request) -> web.Response:
    body = await _body(request)
    await request.app[CONTROL].wait_until_idle(_seconds(body, "timeout", DEFAULT_IDLE_TIMEOUT))
    return web.json_response({})


async def _attempts(request: web.Request) -> web.Response:
    control = request.app[CONTROL]
    entries = control.attempts(request.query.get("queue"), request.query.get("task"))
    return web.json_response({"attempts": [attempt_json(e) for e in entries]})


async def _clock(request: web.Request) -> web.Response:
    clock = request.app[CONTROL].clock
    return web.json_response(
        {"now": clock.now().isoformat().replace("+00:00", "Z"), "virtual": clock.can_advance}
    )


def make_app(grpc_target: str, minter: TokenMinter, control: Control) -> web.Application:
    app = web.Application(middlewares=[_errors])
    app[GRPC_TARGET] = grpc_target
    app[MINTER] = minter
    app[CONTROL] = control
    app.router.add_get("/", _index)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get(OPENID_CONFIGURATION_PATH, _openid_configuration)
    app.router.add_get(JWKS_PATH, _jwks)
    app.router.add_post("/_emulator/reset", _reset)
    app.router.add_post("/_emulator/advance", _advance)
    app.router.add_post("/_emulator/wait-until-idle", _wait_until_idle)
    app.router.add_get("/_emulator/attempts", _attempts)
    app.router.add_get("/_emulator/clock", _clock)
    return app
