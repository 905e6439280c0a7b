"""One port for every client: HTTP/1.1 goes to the aiohttp app, gRPC to the gRPC server.

gRPC clients open HTTP/2 connections with the connection preface ("PRI * HTTP/2.0...",
sent before anything else, since they use prior knowledge over plain text); no HTTP/1.x
request starts with "PRI". So the first bytes of a connection decide its way:

- HTTP/1.x: the connection is handed to aiohttp's own protocol, in place; nothing is
  copied afterwards.
- HTTP/2: the bytes are relayed to the gRPC server's listener on this host, with flow
  control both ways (a slow side pauses reading on the other).

That is what lets `CLOUD_TASKS_EMULATOR_HOST=host:port` alone serve REST, gRPC and the
Firebase route. The gRPC-only port stays for clients that want no relay at all.

The HTTP side (aiohttp and all that stands on it: half the emulator's memory) is loaded
with the first HTTP/1 connection, on a thread while the loop serves on (`load_http`), or
attached by `attach_http()`; a connection that comes before it waits, not read from.
Until then the port answers `GET /healthz` itself once the emulator serves, so health
checks (Docker runs one every second) do not load it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable

log = logging.getLogger("emulator.http")

_H2_PREFACE = b"PRI"
_SNIFF_LIMIT = 64 * 1024  # a client that sends this much without deciding is not HTTP
_SNIFF_TIMEOUT = 30.0  # seconds a new connection may take to send its first bytes
_PROBES = (b"GET /healthz HTTP/1.0\r\n", b"GET /healthz HTTP/1.1\r\n")
_WITH_BODY = re.compile(rb"\r\n(content-length|transfer-encoding):", re.IGNORECASE)
_HEALTHY = (  # what the HTTP side's /healthz says, and the connection closed
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
    b'Content-Length: 21\r\nConnection: close\r\n\r\n{"status": "SERVING"}'
)

HttpSide = Callable[[], asyncio.Protocol]  # a protocol for each HTTP/1 connection


class _Relay(asyncio.Protocol):
    """One end of a relay: what it receives is written to `peer`. When either side goes
    (EOF or loss), both are closed: HTTP/2 has no use for half-closed connections."""

    def __init__(self, peer: asyncio.Transport, open_transports: set[asyncio.Transport]) -> None:
        self.peer = peer
        self.open = open_transports
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.open.add(transport)

    def data_received(self, data: bytes) -> None:
        self.peer.write(data)

    def eof_received(self) -> bool:
        self.peer.close()  # after writing out what it still holds
        return False  # and close this side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.open.discard(self.transport)
        self.peer.close()

    # Flow control: when our transport cannot keep up, the peer stops reading.
    def pause_writing(self) -> None:
        if self.peer is not None:
            self.peer.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None:
            self.peer.resume_reading()


class _FirstBytes(asyncio.Protocol):
    """Reads a new connection's first bytes, then becomes HTTP/1 or a gRPC relay."""

    def __init__(self, port: SharedPort, grpc_address: tuple[str, int]) -> None:
        self.port = port
        self.grpc_address = grpc_address
        self.relays = port.relays
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.relay: _Relay | None = None
        self.timer: asyncio.TimerHandle

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.timer = asyncio.get_running_loop().call_later(_SNIFF_TIMEOUT, transport.close)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if self.relay is not None:  # HTTP/2, waiting for the gRPC connection
            self.buffer += data
            return
        self.buffer += data
        head = self.buffer[: len(_H2_PREFACE)]
        undecided = len(head) < len(_H2_PREFACE) and _H2_PREFACE.startswith(head)
        if undecided and len(self.buffer) < _SNIFF_LIMIT:
            return  # too few bytes to tell
        if head == _H2_PREFACE:
            self._relay_to_grpc()
        elif self.port.http is not None:
            self.become_http()
        elif not self._health_probe():  # wait for the HTTP side
            self.timer.cancel()
            self.transport.pause_reading()
            self.port.waiting.append(self)
            self.port.load()

    def _health_probe(self) -> bool:
        """Whether this connection is (or may still become) `GET /healthz` without a
        body while the emulator serves: answered here, the HTTP side not loaded."""
        assert self.transport is not None
        buffer = self.buffer
        if not self.port.serving:
            return False
        if len(buffer) < len(_PROBES[0]):
            return any(probe.startswith(buffer) for probe in _PROBES)
        if not buffer.startswith(_PROBES) or _WITH_BODY.search(buffer):
            return False
        if b"\r\n\r\n" not in buffer:
            return len(buffer) < _SNIFF_LIMIT  # the rest of its head is on the way
        self.timer.cancel()
        self.transport.write(_HEALTHY)
        self.transport.close()
        return True

    def become_http(self) -> None:
        assert self.transport is not None
        assert self.port.http is not None
        self.timer.cancel()
        if self.transport.is_closing():
            return
        protocol = self.port.http()
        self.transport.set_protocol(protocol)
        protocol.connection_made(self.transport)
        data, self.buffer = self.buffer, b""
        protocol.data_received(data)
        self.transport.resume_reading()  # if it waited for the HTTP side

    def _relay_to_grpc(self) -> None:
        assert self.transport is not None
        self.timer.cancel()
        self.transport.pause_reading()
        self.relay = _Relay(self.transport, self.relays)
        task = asyncio.get_running_loop().create_task(self._connect())
        task.add_done_callback(_log_failure)

    async def _connect(self) -> None:
        assert self.transport is not None
        assert self.relay is not None
        client = self.transport
        relay = self.relay
        try:
            upstream, _ = await asyncio.get_running_loop().create_connection(
                lambda: relay, *self.grpc_address
            )
        except OSError as error:
            log.warning("cannot relay a gRPC connection to the gRPC server: %s", error)
            client.close()
            return
        if client.is_closing():
            upstream.close()
            return
        downstream = _Relay(upstream, self.relays)
        client.set_protocol(downstream)
        downstream.connection_made(client)
        upstream.write(self.buffer)
        self.buffer = b""
        client.resume_reading()

    def eof_received(self) -> bool:
        return False  # closed before it said anything useful

    def connection_lost(self, exc: Exception | None) -> None:
        self.timer.cancel()
        self.buffer = b""


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("relaying a gRPC connection failed", exc_info=task.exception())


class SharedPort:
    """The listening socket, and the relayed gRPC connections to close when it stops
    (HTTP/1 connections are aiohttp's, which closes them itself)."""

    def __init__(self, load_http: Callable[[], Awaitable[HttpSide]] | None = None) -> None:
        self.server: asyncio.Server | None = None
        self.relays: set[asyncio.Transport] = set()
        self.http: HttpSide | None = None
        self.waiting: list[_FirstBytes] = []  # HTTP/1 connections that came before it
        self.serving = False  # set when the emulator is up: GET /healthz answers 200
        self._load_http = load_http
        self._loading: asyncio.Task[None] | None = None

    def attach_http(self, http: HttpSide) -> None:
        """HTTP/1 connections get a protocol from `http` (aiohttp's server) from now on,
        the ones that were waiting first."""
        self.http = http
        waiting, self.waiting = self.waiting, []
        for connection in waiting:
            connection.become_http()

    def load(self) -> None:
        """Load the HTTP side (once), then attach it."""
        if self._loading is None and self._load_http is not None:
            self._loading = asyncio.get_running_loop().create_task(self._load(self._load_http))

    async def _load(self, load_http: Callable[[], Awaitable[HttpSide]]) -> None:
        try:
            http = await load_http()
        except Exception:
            log.exception("the HTTP side could not be loaded")
            self._loading = None  # the next HTTP connection tries again
            waiting, self.waiting = self.waiting, []
            for connection in waiting:
                if connection.transport is not None:
                    connection.transport.close()
            return
        self.attach_http(http)

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for transport in list(self.relays):
            transport.close()
        for connection in self.waiting:
            if connection.transport is not None:
                connection.transport.close()
        self.waiting.clear()
        if self._loading is not None:
            self._loading.cancel()

    async def loaded(self) -> None:
        """Until an HTTP side being loaded is loaded, or stopped by `close()`."""
        if self._loading is not None:
            await asyncio.gather(self._loading, return_exceptions=True)

    async def wait_closed(self) -> None:
        if self.server is not None:
            await self.server.wait_closed()


async def serve(
    grpc_address: tuple[str, int],
    host: str,
    port: int,
    load_http: Callable[[], Awaitable[HttpSide]] | None = None,
) -> SharedPort:
    """Listen on `host:port`: HTTP/2 connections are relayed to `grpc_address`, HTTP/1.x
    ones are handed to the protocol `load_http()` makes when the first comes, or
    `attach_http()` gives (and wait until then)."""
    shared = SharedPort(load_http)
    shared.server = await asyncio.get_running_loop().create_server(
        lambda: _FirstBytes(shared, grpc_address), host, port
    )
    return shared
