"""`cloud-tasks-emulator --healthcheck`: is an emulator up at an address?

Docker runs the probe every second for as long as the container lives, so it stays
cheap: a socket and one HTTP/1.0 request, no HTTP library, no gRPC unless the HTTP port
is unknown.
"""

from __future__ import annotations

import socket


class Unhealthy(Exception):
    """Why the emulator is not up (the probe's one line on stderr)."""


def http_ok(host: str, port: int, path: str, timeout: float) -> None:
    """`GET path` must answer 200; raise Unhealthy saying why not."""
    request = f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n".encode()
    try:
        with socket.create_connection((host.strip("[]"), port), timeout=timeout) as connection:
            connection.sendall(request)
            status_line = connection.makefile("rb").readline(256)
    except OSError as error:
        raise Unhealthy(f"http://{host}:{port}{path}: {error}") from None
    parts = status_line.split(maxsplit=2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        raise Unhealthy(f"http://{host}:{port}{path}: not an HTTP answer: {status_line[:80]!r}")
    if parts[1] != b"200":
        raise Unhealthy(f"http://{host}:{port}{path}: HTTP {parts[1].decode(errors='replace')}")


def grpc_serving(host: str, port: int, timeout: float) -> None:
    """The standard gRPC health service must answer SERVING; raise Unhealthy if not."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"{host}:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            answer = stub.Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.RpcError as error:
            raise Unhealthy(f"gRPC {host}:{port}: {error.code().name}") from None
    if answer.status != health_pb2.HealthCheckResponse.SERVING:
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
        raise Unhealthy(f"gRPC {host}:{port}: {status}")
