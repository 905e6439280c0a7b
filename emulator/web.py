"""The HTTP port's web application (the REST surface and control endpoints grow here)."""

from __future__ import annotations

from aiohttp import web

from emulator import __version__
from emulator.dispatch.tokens import JWKS_PATH, OPENID_CONFIGURATION_PATH, TokenMinter

GRPC_TARGET = web.AppKey("grpc_target", str)
MINTER = web.AppKey("minter", TokenMinter)


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


def make_app(grpc_target: str, minter: TokenMinter) -> web.Application:
    app = web.Application()
    app[GRPC_TARGET] = grpc_target
    app[MINTER] = minter
    app.router.add_get("/", _index)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get(OPENID_CONFIGURATION_PATH, _openid_configuration)
    app.router.add_get(JWKS_PATH, _jwks)
    return app
