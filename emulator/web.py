"""The HTTP port's web application (the REST surface and control endpoints grow here)."""

from __future__ import annotations

from aiohttp import web

from emulator import __version__

GRPC_TARGET = web.AppKey("grpc_target", str)


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


def make_app(grpc_target: str) -> web.Application:
    app = web.Application()
    app[GRPC_TARGET] = grpc_target
    app.router.add_get("/", _index)
    app.router.add_get("/healthz", _healthz)
    return app
