"""The HTTP port: its routes (REST, the Firebase route, gcloud's App Engine call, the
dashboard, /metrics, OIDC discovery, the /_emulator/ control endpoints) on one aiohttp
app, and the one error boundary every route shares.

Whatever goes wrong, the answer is the Google JSON error envelope: an API error as it
is, an unknown path as NOT_FOUND with a hint of where to go instead, and an emulator
bug as INTERNAL (logged), never a plain-text page.

The server imports this module (and with it aiohttp) on a thread once gRPC is serving:
see `emulator.compose`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any, Protocol

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from emulator.core import errors, limits
from emulator.core.clock import Clock, rfc3339
from emulator.core.settings import Settings
from emulator.core.version import __version__
from emulator.dispatch.authorization import (
    JWKS_PATH,
    OPENID_CONFIGURATION_PATH,
    TOKEN_PATH,
    Authorizer,
    TokenRequestError,
)
from emulator.dispatch.dispatcher import Dispatcher
from emulator.grpc.server import MethodTable
from emulator.http import app_engine_admin, dashboard, firebase, metrics, rest, rest_json
from emulator.http.envelope import to_json_envelope
from emulator.http.firebase import FirebaseRoute
from emulator.service.control import (
    DEFAULT_ADVANCE_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT,
    Control,
    attempt_json,
)
from emulator.service.service import CloudTasksService
from emulator.store import Store

log = logging.getLogger("emulator.http")

GRPC_TARGET = web.AppKey("grpc_target", str)
AUTHORIZER = web.AppKey("authorizer", Authorizer)
CONTROL = web.AppKey("control", Control)

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


class _JsonErrorsHandler(RequestHandler):
    """aiohttp's connection handler, with its protocol-level errors (a malformed request
    line or header, a header too long) answered in the JSON envelope instead of text."""

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


def json_error_protocols(server: web.Server) -> Callable[[], asyncio.Protocol]:
    """A protocol factory like `server` whose connections answer errors in JSON."""

    def protocol() -> asyncio.Protocol:
        handler = server()
        handler.__class__ = _JsonErrorsHandler  # same slots: a safe class swap
        return handler

    return protocol


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


async def _openid_configuration(request: web.Request) -> web.Response:
    base = f"{request.scheme}://{request.host}"
    return web.json_response(request.app[AUTHORIZER].openid_configuration(base))


async def _jwks(request: web.Request) -> web.Response:
    return web.json_response(request.app[AUTHORIZER].jwks())


async def _token(request: web.Request) -> web.Response:
    """The token endpoint of `env-init --credentials` key files: google-auth's JWT-bearer
    grant, answered with a local token; a bad request gets an OAuth JSON error (400)."""
    try:
        if request.content_type != "application/x-www-form-urlencoded":
            raise TokenRequestError(
                "invalid_request", "the body must be a form (application/x-www-form-urlencoded)"
            )
        try:
            form = await request.post()
        except (ValueError, web.HTTPException) as error:  # not UTF-8, or too large
            raise TokenRequestError("invalid_request", f"not a form: {error}") from None
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        return web.json_response(request.app[AUTHORIZER].token_grant(fields))
    except TokenRequestError as error:
        body = {"error": error.code, "error_description": error.description}
        return web.json_response(body, status=HTTPStatus.BAD_REQUEST)


async def _body(request: web.Request) -> dict[str, Any]:
    return rest_json.load_object(await request.read()) if request.can_read_body else {}


def _seconds(body: dict[str, Any], key: str, default: float) -> float:
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
        by = timedelta(seconds=_seconds(body, "seconds", 0)) if "seconds" in body else None
    except OverflowError:
        raise errors.InvalidArgument('"seconds" is too large.') from None
    to = _time(body["to"]) if "to" in body else None
    timeout = _seconds(body, "timeout", DEFAULT_ADVANCE_TIMEOUT)
    now = await request.app[CONTROL].advance(by, to=to, timeout=timeout)
    return web.json_response({"now": rfc3339(now)})


async def _wait_until_idle(request: web.Request) -> web.Response:
    body = await _body(request)
    await request.app[CONTROL].wait_until_idle(_seconds(body, "timeout", DEFAULT_IDLE_TIMEOUT))
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


async def _control_off(request: web.Request) -> web.Response:
    raise errors.NotFound(
        "The test-control endpoints are switched off (--no-control / "
        "CLOUD_TASKS_EMULATOR_NO_CONTROL)."
    )


def make_app(
    grpc_target: str,
    authorizer: Authorizer,
    control: Control,
    *,
    with_control: bool = True,
    html_index: Handler | None = None,
) -> web.Application:
    """The HTTP port's app; `html_index` answers `/` for browsers (the dashboard)."""
    app = web.Application(
        middlewares=[_errors, _no_cross_site_changes], client_max_size=limits.MAX_REQUEST_BYTES
    )
    app[GRPC_TARGET] = grpc_target
    app[AUTHORIZER] = authorizer
    app[CONTROL] = control
    if html_index is not None:
        app[HTML_INDEX] = html_index
    app.router.add_get("/", _index)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get(OPENID_CONFIGURATION_PATH, _openid_configuration)
    app.router.add_get(JWKS_PATH, _jwks)
    app.router.add_post(TOKEN_PATH, _token)
    if not with_control:
        app.router.add_route("*", "/_emulator/{rest:.*}", _control_off)
        return app
    app.router.add_post("/_emulator/reset", _reset)
    app.router.add_post("/_emulator/advance", _advance)
    app.router.add_post("/_emulator/wait-until-idle", _wait_until_idle)
    app.router.add_get("/_emulator/attempts", _attempts)
    app.router.add_get("/_emulator/clock", _clock)
    return app


# -- the whole HTTP side ---------------------------------------------------------------------


class Parts(Protocol):
    """What the HTTP side serves from (the `EmulatorServer`)."""

    settings: Settings
    store: Store
    dispatcher: Dispatcher
    control: Control
    clock: Clock
    tasks: CloudTasksService
    authorizer: Authorizer

    @property
    def grpc_target(self) -> str: ...


class HttpSide:
    """Every route of the HTTP port, on one aiohttp app, started as a runner."""

    def __init__(
        self, parts: Parts, v2: MethodTable, v2beta3: MethodTable, mixins: dict[str, MethodTable]
    ) -> None:
        self.parts = parts
        self.v2, self.v2beta3, self.mixins = v2, v2beta3, mixins

    def app(self) -> web.Application:
        """REST (v2, v2beta3), the Firebase route, App Engine's location call, /metrics,
        the dashboard and the control endpoints."""
        parts, settings = self.parts, self.parts.settings
        board = dashboard.Dashboard(
            parts.store,
            parts.dispatcher,
            parts.control,
            parts.clock,
            default_parent=f"projects/{settings.default_project}/locations/"
            f"{settings.default_location}",
            app_engine_url=settings.app_engine_host,
            with_control=settings.control,
        )
        app = make_app(
            parts.grpc_target,
            parts.authorizer,
            parts.control,
            with_control=settings.control,
            html_index=board.index,
        )
        dashboard.add_to(app, board)
        common = {rpc: entry for table in self.mixins.values() for rpc, entry in table.items()}
        buffer = {"BufferTask": (rest.BufferTaskRequest, parts.tasks.buffer_task)}
        for version, table in (("v2", self.v2), ("v2beta3", self.v2beta3)):
            api = rest.RestApi(rest.routes({**table, **common, **buffer}, version))
            rest.add_to(app, api, version)
        firebase.add_to(app, FirebaseRoute(parts.tasks, settings.firebase_function_url))
        metrics.add_to(app, parts.store, parts.dispatcher)
        app_engine_admin.add_to(app, settings.default_location)
        return app

    async def start(self) -> web.AppRunner:
        runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        return runner

    @staticmethod
    def protocols(runner: web.AppRunner) -> Callable[[], asyncio.Protocol]:
        """aiohttp's protocol factory for the connections the shared port hands it."""
        server = runner.server
        assert server is not None  # set by runner.setup()
        return json_error_protocols(server)
