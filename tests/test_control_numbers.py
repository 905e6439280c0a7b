"""Numbers the /_emulator/ control endpoints cannot take: answered INVALID_ARGUMENT.

Python reads `1e400` as infinity, `nan` and `inf` as floats, and its JSON parser takes
`NaN` and `Infinity`; the control endpoints must refuse them with the JSON error
envelope, not fail inside (500) or wait forever.
"""

from __future__ import annotations

import pytest

from emulator import Emulator

from support import RawReply, raw_exchange, still_serving


def _http(emu: Emulator, method: str, path: str, body: bytes = b"", *, wait: float) -> RawReply:
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return raw_exchange(emu.http_url, head.encode() + body, wait=wait)


def _assert_invalid_argument(reply: RawReply) -> None:
    assert reply.data, f"no answer; the connection is {reply.ended}"
    status_line, _, rest = reply.data.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 400"), reply.data[:300]
    assert b'"status": "INVALID_ARGUMENT"' in rest, rest[:300]


@pytest.mark.parametrize(
    "query", ["min_count=-1", "min_count=1.5", "min_count=x", "min_count=1&timeout=-inf"]
)
def test_bad_attempt_counts_are_invalid_argument(emu: Emulator, query: str) -> None:
    _assert_invalid_argument(_http(emu, "GET", f"/_emulator/attempts?{query}", wait=5))


@pytest.mark.parametrize("count", ["1e400", "inf", "nan"])
def test_non_finite_attempt_counts_are_invalid_argument(emu: Emulator, count: str) -> None:
    _assert_invalid_argument(_http(emu, "GET", f"/_emulator/attempts?min_count={count}", wait=5))
    still_serving(emu)


def test_a_nan_timeout_is_invalid_argument(emu: Emulator) -> None:
    # NaN passes a plain "not negative" check and would then wait forever; 2 s is
    # plenty for an answer that needs no waiting.
    reply = _http(emu, "GET", "/_emulator/attempts?min_count=1&timeout=nan", wait=2)
    _assert_invalid_argument(reply)


def test_advancing_by_nan_is_invalid_argument(emu: Emulator) -> None:
    _assert_invalid_argument(_http(emu, "POST", "/_emulator/advance", b'{"seconds": NaN}', wait=5))
    still_serving(emu)


@pytest.mark.parametrize("seconds", [b"Infinity", b"1e400", b"1e300", b"-1"])
def test_advancing_by_other_odd_numbers_is_invalid_argument(emu: Emulator, seconds: bytes) -> None:
    body = b'{"seconds": ' + seconds + b"}"
    _assert_invalid_argument(_http(emu, "POST", "/_emulator/advance", body, wait=5))
