"""Puts an OutgoingRequest on the wire with aiohttp and says what came of it.

The attempt's deadline is not the sender's business: it follows the emulator's clock
(see `emulator.dispatch.delivery`), which cancels a send that outlives it. aiohttp is
imported with the first session, not with this module: the server loads it off the
start-up path (see `emulator.compose`).

`Sender` does this work on the caller's event loop; `emulator.dispatch.process_sender`
has the same interface (`RequestSender`) and runs this same `Sender` in a process of its
own (`emulator.dispatch.sender_child`), so that delivery's HTTP work has a core of its own.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urljoin, urlsplit

from emulator.core.errors import Code
from emulator.core.routes import RouteTable
from emulator.dispatch.request import OutgoingRequest
from emulator.store.records import RESPONSE_BODY_KEPT  # of the answer, on the Attempt

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger("emulator.dispatch")

MAX_REDIRECTS = 10
# The response body is read (and dropped) up to this size, so the connection can be reused;
# past it the connection is closed instead: a huge answer costs no memory.
MAX_BODY_READ = 64 * 1024

# HTTP status -> google.rpc.Code for Attempt.response_status (the standard mapping).
_STATUS_CODES = {
    200: Code.OK,
    400: Code.INVALID_ARGUMENT,
    401: Code.UNAUTHENTICATED,
    403: Code.PERMISSION_DENIED,
    404: Code.NOT_FOUND,
    409: Code.ABORTED,
    429: Code.RESOURCE_EXHAUSTED,
    499: Code.CANCELLED,
    500: Code.INTERNAL,
    501: Code.UNIMPLEMENTED,
    503: Code.UNAVAILABLE,
    504: Code.DEADLINE_EXCEEDED,
}


def code_for_status(status: int) -> Code:
    if status in _STATUS_CODES:
        return _STATUS_CODES[status]
    if 200 <= status < 300:
        return Code.OK
    if 400 <= status < 500:
        return Code.FAILED_PRECONDITION
    return Code.UNKNOWN if status < 500 else Code.INTERNAL


@dataclass(frozen=True)
class Outcome:
    status: int | None = None  # the final HTTP status, None without a response
    retry_after: str | None = None
    error: str | None = None  # why there was no response
    error_code: Code = Code.OK
    at: datetime | None = None  # when it ended, if not when it was reported (a deadline)
    body: bytes = b""  # the answer's first RESPONSE_BODY_KEPT bytes
    refused: str | None = None  # the URL whose connection was refused (`container_hint`)

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def code(self) -> Code:
        return code_for_status(self.status) if self.status is not None else self.error_code

    def describe(self) -> str:
        if self.status is None:
            return f"error={self.error}"
        # An answer with an error too: the emulator's Cloud Run front door refused it.
        return f"status={self.status}" + (f" error={self.error}" if self.error else "")


class RequestSender(Protocol):
    """What delivery sends with: `Sender` here, or `ProcessSender` in a process of its own."""

    async def send(
        self,
        request: OutgoingRequest,
        routes: RouteTable | None = None,
        began: Callable[[], None] | None = None,
    ) -> Outcome:
        """Put `request` on the wire (with `routes`, to its route's local base); what came
        of it. `began()` is called once the request is handed to the wire (the dispatcher
        counts attempts not yet begun)."""
        ...

    async def close(self) -> None: ...


class Sender:
    """Sends on the running event loop."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._http: Any = None  # the aiohttp module, once a session exists

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            import aiohttp

            self._http = aiohttp
            # The dispatcher enforces concurrency itself; the pool must not add a cap.
            connector = aiohttp.TCPConnector(limit=0)
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None),  # the clock times attempts out
                # Cloud Tasks adds none of these: only the task's headers and its own.
                skip_auto_headers=("Accept", "Accept-Encoding", "Content-Type"),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self,
        request: OutgoingRequest,
        routes: RouteTable | None = None,
        began: Callable[[], None] | None = None,
    ) -> Outcome:
        """Send `request`; with `routes`, to the local base of the route its URL (and each
        redirect's) matches (`_send_routed`)."""
        if began is not None:
            began()
        outcome = await self.exchange(request, routes)
        if outcome.refused:
            container_hint(outcome.refused)
        return outcome

    async def exchange(self, request: OutgoingRequest, routes: RouteTable | None = None) -> Outcome:
        """The request on the wire and its answer read: the one mapping of an
        OutgoingRequest (and the routes) to aiohttp's requests."""
        session = self._client()
        aiohttp = self._http
        try:
            if routes:
                return await self._send_routed(session, request, routes)
            async with session.request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.body or None,
                allow_redirects=request.follow_redirects,
                max_redirects=MAX_REDIRECTS + 1,  # aiohttp counts the final response too
            ) as response:
                head = await _drain(response)
                return Outcome(
                    status=response.status,
                    retry_after=response.headers.get("Retry-After"),
                    body=head,
                )
        except aiohttp.TooManyRedirects:
            return Outcome(
                error=f"more than {MAX_REDIRECTS} redirects", error_code=Code.UNAVAILABLE
            )
        except (aiohttp.InvalidURL, ValueError) as error:
            return Outcome(error=f"invalid URL: {error}", error_code=Code.INVALID_ARGUMENT)
        except aiohttp.ClientConnectorError as error:
            refused = None
            if _refused(error.os_error):  # (a routed request's address is its local base's)
                refused = f"http://{error.host}:{error.port}" if routes else request.url
            return Outcome(
                error=f"cannot connect: {error.os_error}",
                error_code=Code.UNAVAILABLE,
                refused=refused,
            )
        except (aiohttp.ClientError, OSError) as error:
            return Outcome(error=f"{type(error).__name__}: {error}", error_code=Code.UNAVAILABLE)

    async def _send_routed(
        self, session: aiohttp.ClientSession, request: OutgoingRequest, routes: RouteTable
    ) -> Outcome:
        """Each hop to the local base of its URL's route, with the production host as its
        Host header and the production scheme as X-Forwarded-Proto (a hop no route matches
        goes to its own URL). Redirects are followed here, as aiohttp follows them (method,
        body, Authorization on a change of origin), so that a redirect to a production URL
        is routed too. docs/production-parity.md."""
        url, method, body = request.url, request.method, request.body
        headers = request.headers
        for _ in range(MAX_REDIRECTS + 1):
            routed = routes.match(url)
            target, sent = url, headers
            if routed is not None:
                target, sent = routed.url, {**headers, "Host": routed.host}
                if not any(key.lower() == "x-forwarded-proto" for key in headers):
                    sent["X-Forwarded-Proto"] = urlsplit(url).scheme
            async with session.request(
                method, target, headers=sent, data=body or None, allow_redirects=False
            ) as response:
                location = response.headers.get("Location")
                head = await _drain(response)
                if not (request.follow_redirects and response.status in _REDIRECTS and location):
                    retry_after = response.headers.get("Retry-After")
                    return Outcome(status=response.status, retry_after=retry_after, body=head)
            following = urljoin(url, location)
            if (response.status == 303 and method != "HEAD") or (
                response.status in (301, 302) and method == "POST"
            ):
                method, body = "GET", b""
            if _origin(following) != _origin(url):
                headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIALS}
            url = following
        return Outcome(error=f"more than {MAX_REDIRECTS} redirects", error_code=Code.UNAVAILABLE)


_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CREDENTIALS = frozenset({"authorization", "cookie", "proxy-authorization"})


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


async def _drain(response: aiohttp.ClientResponse) -> bytes:
    """Read the body up to MAX_BODY_READ (closing the connection past that) and drop it
    but its first RESPONSE_BODY_KEPT bytes, which are returned."""
    head = b""
    read = 0
    while chunk := await response.content.readany():
        if read < RESPONSE_BODY_KEPT:
            head += chunk[: RESPONSE_BODY_KEPT - read]
        read += len(chunk)
        if read > MAX_BODY_READ:
            response.close()
            break
    return head


# -- a refused loopback address inside a container ------------------------------------------

IN_CONTAINER_ENV = "CLOUD_TASKS_EMULATOR_IN_CONTAINER"
_CONTAINER_FILES = ("/.dockerenv", "/run/.containerenv")  # Docker's, Podman's


def in_container() -> bool:
    """Whether this process runs in a container: CLOUD_TASKS_EMULATOR_IN_CONTAINER says
    so (1/0, true/false; the image sets it), else Docker's or Podman's marker file."""
    said = os.environ.get(IN_CONTAINER_ENV, "").strip().lower()
    if said in ("1", "true", "yes"):
        return True
    if said in ("0", "false", "no"):
        return False
    return any(os.path.exists(path) for path in _CONTAINER_FILES)


def _refused(error: OSError) -> bool:
    # A name with several addresses (localhost: ::1 and 127.0.0.1) fails with one OSError
    # that lists each address's error.
    return isinstance(error, ConnectionRefusedError) or (
        error.errno is None and f"[Errno {errno.ECONNREFUSED}]" in str(error)
    )


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _ContainerHint:
    """Once per process: a task to a loopback address was refused inside a container,
    where that address is the container itself, not the host the handler may run on."""

    def __init__(self) -> None:
        self.settled = False  # a loopback address was refused: hinted, or no container

    def __call__(self, url: str) -> None:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if not _loopback(host):
            return
        self.settled = True
        if in_container():
            _log_hint(parts.scheme, parts.netloc, host, parts.port)


def _log_hint(scheme: str, netloc: str, host: str, port: int | None) -> None:
    port_part = f":{port}" if port else ""
    log.warning(
        "A task to %s was refused: inside a container, %s is the container itself. A "
        "handler on the host is reached at %s://host.docker.internal%s (with extra_hosts: "
        '["host.docker.internal:host-gateway"] in compose, or --add-host '
        "host.docker.internal:host-gateway), or run the emulator with --network host; "
        "see docs/troubleshooting.md. (Said once.)",
        f"{scheme}://{netloc.rpartition('@')[2]}",  # no path, query or password
        host,
        scheme,
        port_part,
    )


_container_hint = _ContainerHint()


def container_hint(url: str) -> None:
    """A task to `url` was refused: the hint, if this is the first refused loopback
    address in a container (delivery's process only; a sender process reports refusals)."""
    if not _container_hint.settled:
        _container_hint(url)
