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

The port listens, and relays gRPC, before the HTTP side is ready (the server loads it
while gRPC is already served): an HTTP/1 connection that comes first waits, not read
from, until `attach_http()`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger("emulator.http")

_H2_PREFACE = b"PRI"
_SNIFF_LIMIT = 64 * 1024  # a client that sends this much without deciding is not HTTP
_SNIFF_TIMEOUT = 30.0  # seconds a new connection may take to send its first bytes


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
        elif self.port.http is None:  # the HTTP side is still loading: wait for it
            self.timer.cancel()
            self.transport.pause_reading()
            self.port.waiting.append(self)
        else:
            self.become_http()

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

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.relays: set[asyncio.Transport] = set()
        self.http: Callable[[], asyncio.Protocol] | None = None
        self.waiting: list[_FirstBytes] = []  # HTTP/1 connections that came before it

    def attach_http(self, http: Callable[[], asyncio.Protocol]) -> None:
        """HTTP/1 connections get a protocol from `http` (aiohttp's server) from now on,
        the ones that were waiting first."""
        self.http = http
        waiting, self.waiting = self.waiting, []
        for connection in waiting:
            connection.become_http()

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

    async def wait_closed(self) -> None:
        if self.server is not None:
            await self.server.wait_closed()


async def serve(grpc_address: tuple[str, int], host: str, port: int) -> SharedPort:
    """Listen on `host:port`: HTTP/2 connections are relayed to `grpc_address`, HTTP/1.x
    ones are handed to the protocol `attach_http()` gives (and wait until then)."""
    shared = SharedPort()
    shared.server = await asyncio.get_running_loop().create_server(
        lambda: _FirstBytes(shared, grpc_address), host, port
    )
    return shared
