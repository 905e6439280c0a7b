"""The HTTP port's app: one aiohttp app, the one error boundary every route shares, and
the routes of the port itself (`/`, `/healthz`). The composition root (`emulator.compose`)
adds the rest: REST, the Firebase route, App Engine's location call, the dashboard,
/metrics, OIDC and the token endpoint, and the /_emulator/ control endpoints.

Whatever goes wrong, the answer is the Google JSON error envelope: an API error as it
is, an unknown path as NOT_FOUND with a hint of where to go instead, and an emulator
bug as INTERNAL (logged), never a plain-text page.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.web_request import BaseRequest

from emulator.core import errors, limits
from emulator.core.version import __version__
from emulator.http.envelope import to_json_envelope

log = logging.getLogger("emulator.http")

GRPC_TARGET = web.AppKey("grpc_target", str)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HTML_INDEX: web.AppKey[Handler] = web.AppKey("html_index")


_HINTS = (
    (
        "/v2beta2/",
        "The v2beta2 API (gcloud alpha tasks, pull queues) is not emulated: use `gcloud tasks` "
        "(v2) or `gcloud beta tasks` (v2beta3).",
    ),
    (
        "/projects/",
        "Cloud Tasks REST paths start with /v2/ (or /v2beta3/). Without a version the "
        "emulator takes only the Firebase task-queue calls: POST "
        "/projects/P/locations/L/queues/Q/tasks and DELETE .../tasks/ID.",
    ),
    (
        "/v1/",
        "Of the App Engine Admin API only GET /v1/apps/PROJECT is answered (gcloud asks it "
        "for a default location).",
    ),
)
_SERVED = (
    "The emulator serves /v2/ and /v2beta3/ (REST), the Firebase task-queue route "
    "/projects/.../tasks, /_emulator/ (test control), the dashboard at / and /ui/, "
    "/metrics, /healthz, /.well-known/ (OIDC) and /token (env-init --credentials)."
)


def not_found(path: str) -> errors.NotFound:
    hint = next((text for prefix, text in _HINTS if path.startswith(prefix)), _SERVED)
    return errors.NotFound(f"The requested URL {path} was not found on this server. {hint}")


def _from_http_exception(request: web.Request, error: web.HTTPException) -> errors.ApiError:
    if isinstance(error, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(error.allowed_methods))
        return errors.NotFound(
            f"No {request.method} method for {request.path}; it takes {allowed}."
        )
    if isinstance(error, web.HTTPNotFound):
        return not_found(request.path)
    if isinstance(error, web.HTTPRequestEntityTooLarge):
        return errors.InvalidArgument(f"The request body is too large: {error.text}")
    return errors.InvalidArgument(f"{error.status} {error.reason}: {error.text}")


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The HTTP port's one error boundary: every failure becomes a JSON error envelope."""
    try:
        return await handler(request)
    except errors.ApiError as error:
        failure = error
    except web.HTTPException as error:
        if error.status < 400:
            raise  # redirects and the like are answers, not errors
        failure = _from_http_exception(request, error)
    except ConnectionError as error:  # the client hung up mid-request: its doing, not ours
        log.debug("%s %s: the client went away: %s", request.method, request.path, error)
        failure = errors.Cancelled("The client closed the connection before it was answered.")
    except Exception:
        log.exception("%s %s failed unexpectedly", request.method, request.path)
        failure = errors.Internal(
            f"{request.method} {request.path} failed inside the emulator; see its log."
        )
    status, body = to_json_envelope(failure)
    return web.json_response(body, status=status)


class _JsonErrorsHandler(web.RequestHandler):
    """aiohttp's connection handler (`aiohttp.web.RequestHandler`, which it exports), with
    its protocol-level errors (a malformed request line or header, a header too long, a
    broken chunk) answered in the JSON envelope instead of text: `handle_error` is the
    method aiohttp calls for them."""

    __slots__ = ()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            log.error("error handling a request from %s", request.remote, exc_info=exc)
        else:  # the client's mistake (or not HTTP at all): not the emulator's error
            log.debug("malformed request from %s: %s", request.remote, message or exc)
        if request.writer.output_size > 0:
            raise ConnectionError("the response has started; the connection is dropped")
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        detail = str(message or exc or "the request could not be read").strip()
        text = f"{status} {reason}: {detail.splitlines()[0].rstrip(':')[:200]}"
        failure: errors.ApiError = (
            errors.Internal(text) if status >= 500 else errors.InvalidArgument(text)
        )
        _, body = to_json_envelope(failure)
        body["error"]["code"] = status
        response = web.json_response(body, status=status)
        response.force_close()
        return response


async def _index(request: web.Request) -> web.StreamResponse:
    """The dashboard for a browser, what this is (JSON) for anything else."""
    dashboard = request.app.get(HTML_INDEX)
    if dashboard is not None and "text/html" in request.headers.get("Accept", ""):
        return await dashboard(request)
    return web.json_response(
        {
            "service": "cloud-tasks-emulator",
            "version": __version__,
            "grpc": request.app[GRPC_TARGET],
            "dashboard": "/ (in a browser)",
        }
    )


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "SERVING"})


_FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
_CHANGES = {"POST", "PUT", "PATCH", "DELETE"}


@web.middleware
async def _no_cross_site_changes(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A web page must not drive the emulator: changes from a browser's cross-site request
    are refused, and the control endpoints take JSON only, which an HTML form cannot send."""
    if request.method in _CHANGES:
        if request.headers.get("Sec-Fetch-Site") == "cross-site":
            raise errors.PermissionDenied(
                "Cross-site requests from a browser cannot change the emulator."
            )
        kind = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if request.path.startswith("/_emulator/") and kind in _FORM_TYPES:
            raise errors.PermissionDenied(
                f"The control endpoints take JSON (Content-Type: application/json), not {kind}."
            )
    return await handler(request)


def _committed_first(commit: Callable[[], None]) -> Any:
    """A middleware: `commit` (`Store.commit`) runs before every answer, so what a client
    is told is on disk first (--data-dir)."""

    @web.middleware
    async def committed_first(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        finally:
            commit()

    return committed_first


def make_app(
    grpc_target: str,
    *,
    html_index: Handler | None = None,
    commit: Callable[[], None] | None = None,
) -> web.Application:
    """The HTTP port's app with its error boundary; `html_index` answers `/` for browsers
    (the dashboard); `commit` runs before every answer."""
    middlewares: list[Any] = [_errors, _no_cross_site_changes]
    if commit is not None:
        middlewares.append(_committed_first(commit))
    app = web.Application(middlewares=middlewares, client_max_size=limits.MAX_REQUEST_BYTES)
    app[GRPC_TARGET] = grpc_target
    if html_index is not None:
        app[HTML_INDEX] = html_index
    app.router.add_get("/", _index)
    app.router.add_get("/healthz", _healthz)
    return app


# What every connection handler is made with: the runner's server, and the handlers the
# shared port makes (`protocols`).
_HANDLER_ARGS: dict[str, Any] = {"access_log": None}


async def start(app: web.Application) -> web.AppRunner:
    runner = web.AppRunner(app, shutdown_timeout=1.0, **_HANDLER_ARGS)
    await runner.setup()
    return runner


def protocols(runner: web.AppRunner) -> Callable[[], asyncio.Protocol]:
    """The protocol factory for the connections the shared port hands to aiohttp: what
    `runner.server` makes, as `_JsonErrorsHandler`, which answers errors in JSON."""
    server = runner.server
    assert server is not None  # set by runner.setup()
    loop = asyncio.get_running_loop()
    return lambda: _JsonErrorsHandler(server, loop=loop, **_HANDLER_ARGS)
