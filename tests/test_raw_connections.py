"""Bytes no client would send, on both ports: the emulator answers or hangs up, and serves on.

Raw sockets write random bytes and near misses of the protocols (an HTTP/2 preface then
junk, an HTTP/1 request line then junk, a TLS ClientHello) to the gRPC port and to the
HTTP port (which sniffs HTTP/1 from HTTP/2 and relays the latter to the gRPC server);
slow clients hold connections half-sent; REST requests carry huge or countless headers.
After each, real RPCs must still succeed on both ports.

What the ports do (recorded by the tests below):
- gRPC port: to anything that is not HTTP/2 it sends its SETTINGS frame and closes.
- HTTP port, HTTP/1-ish garbage: 400 INVALID_ARGUMENT in the JSON error envelope, and a
  close. A request line without a version (`GET /healthz`) is taken as HTTP/0.9 and
  answered.
- HTTP port, bytes starting "PRI": relayed to the gRPC server, which answers as above.
- HTTP port, a header over 8190 bytes or more than 128 headers: the same JSON 400.
- A client that hangs up in the middle of its body is logged at debug level, not as an
  emulator error.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator import Emulator
from emulator.core.clock import real_seconds

from support import RawReply, host_port, raw_exchange, still_serving

RAW_FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def tls_client_hello() -> bytes:
    """The first flight of a real TLS handshake (a ClientHello), from the ssl module."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


NEAR_MISSES = {
    "h2-preface-then-junk": H2_PREFACE + bytes(range(256)) * 4,
    "h2-preface-torn": b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + b"\x00" * 64,
    "pri-then-junk": b"PRI\xff\xfe\xfd" + b"\x00" * 64,
    "h1-line-then-junk": b"GET / HTTP/1.1\r\n" + bytes(range(256)) * 4,
    "h1-bad-method": b"G\x00T / HTTP/1.1\r\nHost: x\r\n\r\n",
    "h1-bad-version": b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    "h1-bad-content-length": b"POST /_emulator/advance HTTP/1.1\r\nHost: x\r\n"
    b"Content-Length: abc\r\n\r\n{}",
    "h1-bad-chunk": b"POST /_emulator/advance HTTP/1.1\r\nHost: x\r\n"
    b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
    "h1-header-no-colon": b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
    "tls-client-hello": b"",  # filled in by the test (needs the ssl module at run time)
    "nul-bytes": b"\x00" * 512,
}
# Garbage the HTTP port reads as HTTP/1 (and must answer with a 4xx or a close).
HTTP1_GARBAGE = [name for name in NEAR_MISSES if not name.startswith(("h2", "pri"))]


def _bytes_of(name: str) -> bytes:
    return tls_client_hello() if name == "tls-client-hello" else NEAR_MISSES[name]


def _status(reply: RawReply) -> int:
    """The status of an HTTP/1 answer."""
    assert reply.data.startswith(b"HTTP/1."), reply
    return int(reply.data.split(b" ", 2)[1])


def _check_answer(port: str, reply: RawReply) -> None:
    """An answer or a hang-up: never a 5xx, never a connection left hanging."""
    assert reply.ended in ("closed", "reset"), f"the connection was left open: {reply}"
    if reply.data.startswith(b"HTTP/"):
        assert port == "http", reply
        assert 400 <= _status(reply) < 500, reply.data[:300]
    elif reply.data:  # HTTP/2 frames from the gRPC server: 9-byte frame headers
        assert reply.data[3] == 0x04, f"not a SETTINGS frame first: {reply.data[:40]!r}"


def _address(emu: Emulator, port: str) -> str:
    return emu.grpc_target if port == "grpc" else emu.http_url


@pytest.mark.parametrize("port", ["grpc", "http"])
@pytest.mark.parametrize("name", sorted(NEAR_MISSES))
def test_near_miss_bytes(emu: Emulator, port: str, name: str) -> None:
    reply = raw_exchange(_address(emu, port), _bytes_of(name))
    _check_answer(port, reply)
    if port == "http" and name in HTTP1_GARBAGE:
        assert _status(reply) == 400, reply.data[:300]
    still_serving(emu)


@pytest.mark.parametrize("port", ["grpc", "http"])
@RAW_FUZZ
@given(data=st.binary(min_size=1, max_size=4096))
def test_random_bytes(emu: Emulator, port: str, data: bytes) -> None:
    # Half-closed after the bytes: a server may not wait for more (short random bytes are
    # often a prefix of something valid), so it must answer or hang up at once.
    _check_answer(port, raw_exchange(_address(emu, port), data, half_close=True))
    still_serving(emu)


def test_a_request_line_without_version_is_answered_as_http_0_9(emu: Emulator) -> None:
    # Recorded: aiohttp answers a bare "GET /path" (HTTP/0.9 style) with a full response.
    reply = raw_exchange(emu.http_url, b"GET /healthz\r\n\r\n")
    assert reply.data.startswith(b"HTTP/0.9 200 OK"), reply.data[:100]
    assert reply.data.endswith(b'{"status": "SERVING"}')


@pytest.mark.parametrize("name", ["h1-bad-version", "h1-bad-content-length", "tls-client-hello"])
def test_malformed_http_gets_the_json_error_envelope(emu: Emulator, name: str) -> None:
    reply = raw_exchange(emu.http_url, _bytes_of(name))
    head, _, body = reply.data.partition(b"\r\n\r\n")
    assert _status(reply) == 400
    assert b"content-type: application/json" in head.lower(), head
    assert b'"status": "INVALID_ARGUMENT"' in body, body[:300]


# -- huge and countless headers on the HTTP port ------------------------------------------


def _request_with_headers(emu: Emulator, headers: list[tuple[str, str]]) -> RawReply:
    lines = [f"GET /v2/{emu.parent}/queues HTTP/1.1", "Host: x", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    return raw_exchange(emu.http_url, ("\r\n".join(lines) + "\r\n\r\n").encode())


HEADER_CASES = {
    "one-100KB-header": [("X-Big", "a" * 100_000)],
    "3000-headers": [(f"X-H{i}", "v") for i in range(3000)],
    "200-headers": [(f"X-H{i}", "v") for i in range(200)],
}


@pytest.mark.parametrize("case", sorted(HEADER_CASES))
def test_huge_headers_get_a_clear_error(emu: Emulator, case: str) -> None:
    # Recorded: 400 from aiohttp (its limits: 8190 bytes a line, 128 headers); no crash.
    reply = _request_with_headers(emu, HEADER_CASES[case])
    _check_answer("http", reply)
    assert _status(reply) == 400, reply.data[:300]
    still_serving(emu)


def test_headers_under_the_limits_are_served(emu: Emulator) -> None:
    reply = _request_with_headers(
        emu, [("X-Big", "a" * 8000), *[(f"X-H{i}", "v") for i in range(100)]]
    )
    assert _status(reply) == 200, reply.data[:300]


@pytest.mark.parametrize("case", sorted(HEADER_CASES))
def test_huge_headers_get_the_json_error_envelope(emu: Emulator, case: str) -> None:
    reply = _request_with_headers(emu, HEADER_CASES[case])
    head, _, body = reply.data.partition(b"\r\n\r\n")
    assert _status(reply) == 400
    assert b"content-type: application/json" in head.lower(), head
    assert b'"status": "INVALID_ARGUMENT"' in body, body[:300]


# -- slow clients ------------------------------------------------------------------------

# What each slow connection sends before it stops: nothing, an undecided first byte or
# two, part of a request line, part of the headers, part of a body, part of an HTTP/2
# preface, or the whole preface and nothing after it.
SLOW_STARTS = [
    b"",
    b"P",
    b"PR",
    b"G",
    b"GET /v2/projects/",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ",
    b"POST /_emulator/advance HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{",
    b"PRI * HTTP/2.0\r\n",
    H2_PREFACE,
]


@pytest.fixture
def slow_clients(emu: Emulator) -> Iterator[list[socket.socket]]:
    """50 connections to the HTTP port and 10 to the gRPC port, each sent a start of a
    request and then left silent."""
    sockets: list[socket.socket] = []
    try:
        for i in range(60):
            address = emu.http_url if i < 50 else emu.grpc_target
            sock = socket.create_connection(host_port(address), timeout=5)
            sockets.append(sock)
            if start := SLOW_STARTS[i % len(SLOW_STARTS)]:
                sock.sendall(start)
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def test_slow_clients_do_not_hold_up_real_ones(emu: Emulator, slow_clients: object) -> None:
    started = real_seconds()
    for _ in range(3):
        still_serving(emu, timeout=5)
    emu.advance(1)  # the control endpoint's own work, over the loop the slow ones share
    assert real_seconds() - started < 5


class _Records(logging.Handler):
    """Records of one logger, and an event set by the first of them at ERROR or worse."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.arrived = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.arrived.set()


@pytest.mark.parametrize("path", ["/_emulator/advance", "/v2/{parent}/queues"])
def test_a_client_hanging_up_mid_body_is_not_an_emulator_error(emu: Emulator, path: str) -> None:
    handler = _Records()
    logger = logging.getLogger("emulator.http")
    logger.addHandler(handler)
    try:
        with socket.create_connection(host_port(emu.http_url), timeout=5) as sock:
            request = f"POST {path.format(parent=emu.parent)} HTTP/1.1\r\nHost: x\r\n"
            sock.sendall(request.encode() + b"Content-Length: 100000\r\n\r\n{")
            still_serving(emu)  # the request has reached its handler by now
        handler.arrived.wait(2)  # the handler notices the hang-up on the emulator's loop
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in handler.records] == []
    still_serving(emu)
