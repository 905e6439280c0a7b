"""Whether a port can be listened on, checked before any server binds it."""

from __future__ import annotations

import errno
import socket


def bind_problem(host: str, port: int, flag: str) -> str:
    """Why a listener on host:port cannot be opened ("" if it can): bound and closed at
    once, with SO_REUSEADDR as gRPC's and asyncio's listeners are (a port whose last
    connections are in TIME_WAIT is free; one another process listens on is not)."""
    try:
        found = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError:
        return ""  # not a name this resolver knows: the listener says what is wrong
    for family, kind, proto, _, address in found:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    return (
                        "the port is taken (by another emulator?); choose another with "
                        f"{flag}, or 0 for a free one"
                    )
                return error.strerror or str(error)
    return ""
