"""`emulator.http.multiplex`: the one port listens before its HTTP side is attached (the
server loads it while gRPC is already served); an HTTP/1 connection that comes first
waits for it, and is then answered in full."""

from __future__ import annotations

import asyncio

from emulator.core.clock import yield_to_loop
from emulator.http import multiplex


class _Answer(asyncio.Protocol):
    """A stand-in HTTP side: answers each request with what it read."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.seen = b""

    def data_received(self, data: bytes) -> None:
        self.seen += data
        if self.seen.endswith(b"\r\n\r\n"):
            body = self.seen
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            self.transport.write(head + body)
            self.transport.close()


async def _until_waiting(port: multiplex.SharedPort) -> None:
    """Until the port has read a connection's first bytes and holds it (loop turns, not
    time: the socket's data arrives in one of them)."""
    for _ in range(100_000):
        if port.waiting:
            return
        await yield_to_loop()
    raise AssertionError("the port never held the connection")


async def test_an_http_connection_before_the_http_side_waits_for_it() -> None:
    port = await multiplex.serve(("127.0.0.1", 9), "127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port.port)
        request = b"GET /early HTTP/1.1\r\nHost: x\r\n\r\n"
        writer.write(request)
        await writer.drain()
        await _until_waiting(port)
        port.attach_http(_Answer)
        answer = await asyncio.wait_for(reader.read(), 10)
        assert answer.startswith(b"HTTP/1.1 200 OK")
        assert answer.endswith(request)  # every byte sent before the attach arrived
        writer.close()
    finally:
        port.close()
        await port.wait_closed()


async def test_a_waiting_connection_is_closed_with_the_port() -> None:
    port = await multiplex.serve(("127.0.0.1", 9), "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", port.port)
    writer.write(b"GET / HTTP/1.1\r\n")
    await writer.drain()
    await _until_waiting(port)
    port.close()
    await port.wait_closed()
    assert await asyncio.wait_for(reader.read(), 10) == b""  # closed, nothing sent
    writer.close()


async def _loaded_on_demand() -> tuple[multiplex.SharedPort, list[str]]:
    """A port whose HTTP side (`_Answer`) is loaded by the first HTTP/1 connection; the
    list says how many times it was."""
    loads: list[str] = []

    async def load() -> multiplex.HttpSide:
        loads.append("loaded")
        return _Answer

    return await multiplex.serve(("127.0.0.1", 9), "127.0.0.1", 0, load), loads


async def _exchange(port: multiplex.SharedPort, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port.port)
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return answer


async def test_the_first_http_connection_loads_the_http_side_once() -> None:
    port, loads = await _loaded_on_demand()
    try:
        for path in (b"/first", b"/second"):
            request = b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n"
            answer = await _exchange(port, request)
            assert answer.startswith(b"HTTP/1.1 200 OK")
            assert answer.endswith(request)
        assert loads == ["loaded"]
    finally:
        port.close()
        await port.wait_closed()


async def test_a_health_check_is_answered_without_loading_the_http_side() -> None:
    port, loads = await _loaded_on_demand()
    port.serving = True
    try:
        for version in (b"1.0", b"1.1"):
            answer = await _exchange(port, b"GET /healthz HTTP/" + version + b"\r\nHost: x\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
            assert answer.endswith(b'\r\n\r\n{"status": "SERVING"}')
        assert loads == []
    finally:
        port.close()
        await port.wait_closed()


async def test_a_health_check_before_the_emulator_serves_waits_for_the_http_side() -> None:
    port, loads = await _loaded_on_demand()
    try:
        request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        answer = await _exchange(port, request)
        assert answer.endswith(request)  # answered by the HTTP side
        assert loads == ["loaded"]
    finally:
        port.close()
        await port.wait_closed()


async def test_any_other_request_to_healthz_goes_to_the_http_side() -> None:
    port, loads = await _loaded_on_demand()
    port.serving = True
    try:
        for request in (
            b"GET /healthz?x=1 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        ):
            assert (await _exchange(port, request)).endswith(request)
        assert loads == ["loaded"]
    finally:
        port.close()
        await port.wait_closed()
