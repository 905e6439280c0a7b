"""The command line: `cloud-tasks-emulator` / `python -m emulator`.

Every flag has an environment variable CLOUD_TASKS_EMULATOR_<FLAG>; a flag given on the
command line wins over its variable.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from emulator import __version__, config
from emulator.config import StartupQueue
from emulator.errors import StartupError
from emulator.server import EmulatorServer
from emulator.settings import ENV_PREFIX, Settings, parse_duration

log = logging.getLogger("emulator")


@dataclass(frozen=True)
class Option:
    flag: str
    type: Callable[[str], Any]
    help: str
    metavar: str

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.dest.upper()


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(f"not a port: {text}")
    return port


def _log_level(text: str) -> str:
    level = text.lower()
    if level not in ("debug", "info", "warning", "error"):
        raise ValueError(f"not a log level: {text}")
    return level


def _base_url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise ValueError(f"not an http:// or https:// URL: {text}")
    return text.rstrip("/")


def _clock(text: str) -> str:
    if text not in ("real", "virtual"):
        raise ValueError(f"not a clock: {text} (real or virtual)")
    return text


OPTIONS = [
    Option("--host", str, "address to listen on (0.0.0.0 in a container)", "ADDR"),
    Option("--port", _port, "gRPC port; 0 picks a free one", "PORT"),
    Option("--http-port", _port, "HTTP port (REST surface, web endpoints); 0 picks one", "PORT"),
    Option(
        "--default-location", str, "location of queue ids in --config/--queue; always listed", "ID"
    ),
    Option("--default-project", str, "project of queue ids in --config/--queue", "ID"),
    Option(
        "--config",
        str,
        "YAML file of queues to create at start-up: ours, or App Engine's queue.yaml",
        "PATH",
    ),
    Option(
        "--task-tombstone-ttl",
        parse_duration,
        "how long a finished or deleted task's name stays reserved",
        "DURATION",
    ),
    Option(
        "--queue-tombstone-ttl",
        parse_duration,
        "how long a deleted queue's name cannot be re-created (0 = off; the real service: 7d)",
        "DURATION",
    ),
    Option("--log-level", _log_level, "debug, info, warning or error", "LEVEL"),
    Option(
        "--app-engine-host",
        _base_url,
        "base URL that App Engine tasks are sent to (relative_uri is appended)",
        "URL",
    ),
    Option(
        "--clock",
        _clock,
        "real, or virtual: real time that /_emulator/advance can move forward",
        "KIND",
    ),
    Option("--oidc-issuer", str, "`iss` claim of OIDC tokens (empty: the HTTP URL)", "URL"),
    Option(
        "--oidc-key-file",
        str,
        "PEM RSA private key that signs OIDC tokens (empty: one made at start)",
        "PATH",
    ),
]


def build_parser() -> argparse.ArgumentParser:
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="cloud-tasks-emulator",
        description=(
            "A local emulator of Google Cloud Tasks: the google.cloud.tasks.v2 API over gRPC, "
            "backed by one in-memory store."
        ),
        epilog=(
            "Every flag can also be set by an environment variable, e.g. "
            f"{ENV_PREFIX}PORT=8123; a flag wins over its variable. Durations: 90s, 15m, 1h, 7d."
        ),
    )
    for option in OPTIONS:
        default = getattr(defaults, option.dest)
        shown = f"{default.total_seconds():g}s" if hasattr(default, "total_seconds") else default
        parser.add_argument(
            option.flag,
            type=_typed(option),
            metavar=option.metavar,
            help=f"{option.help} (default: {shown}; env: {option.env})",
        )
    parser.add_argument(
        "--queue",
        action="append",
        metavar="NAME[:KEY=VALUE,...]",
        help=(
            "a queue to create at start-up (repeatable), e.g. emails:rate=10,concurrency=5,"
            "max_attempts=3,min_backoff=1s,state=paused (env: "
            f"{QUEUES_ENV}, queues separated by spaces or ';')"
        ),
    )
    parser.add_argument(
        "--healthcheck",
        action="store_true",
        help=(
            "do not serve: ask the emulator at --host/--port whether it is SERVING (gRPC "
            "health) and exit 0 if so, 1 if not; for Docker HEALTHCHECK"
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _typed(option: Option) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return option.type(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = option.dest  # argparse names the type in its error messages
    return convert


QUEUES_ENV = ENV_PREFIX + "QUEUES"


def parse_settings(argv: Sequence[str] | None = None) -> Settings:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = Settings(healthcheck=args.healthcheck)
    if args.queue:
        settings.queues = list(args.queue)
    elif os.environ.get(QUEUES_ENV):
        settings.queues = [os.environ[QUEUES_ENV]]
    for option in OPTIONS:
        value = getattr(args, option.dest)
        if value is None and option.env in os.environ:
            try:
                value = option.type(os.environ[option.env])
            except ValueError as error:
                parser.error(f"{option.env}: {error}")
        if value is not None:
            setattr(settings, option.dest, value)
    return settings


def ready_line(server: EmulatorServer) -> str:
    target = server.grpc_target
    listening = server.settings.host
    where = f" (listening on {listening})" if listening in ("0.0.0.0", "::", "") else ""
    return (
        f"cloud-tasks-emulator {__version__} ready{where}: gRPC {target}, HTTP {server.http_url}. "
        f"Connect: CloudTasksClient(transport=CloudTasksGrpcTransport("
        f'channel=grpc.insecure_channel("{target}")))'
    )


def startup_queues(settings: Settings) -> list[StartupQueue]:
    """The queues of --config and --queue (StartupError names the file, line and field)."""
    names = {"project": settings.default_project, "location": settings.default_location}
    queues = config.load_file(settings.config, **names) if settings.config else []
    queues += config.parse_flags(settings.queues, source=f"--queue/{QUEUES_ENV}", **names)
    seen: set[str] = set()
    for item in queues:
        name = str(item.queue.name)
        if name in seen:
            raise StartupError(f"queue {name} is configured twice (--config and --queue)")
        seen.add(name)
    return queues


async def run(settings: Settings) -> None:
    server = EmulatorServer(settings, queues=startup_queues(settings))  # may raise StartupError
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(ready_line(server), flush=True)
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        await server.stop(grace=0.3)


def healthcheck(settings: Settings, timeout: float = 3.0) -> bool:
    """Whether the emulator at the configured address answers SERVING."""
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}.get(
        settings.host, settings.host
    )
    with grpc.insecure_channel(f"{host}:{settings.port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            answer = stub.Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.RpcError as error:
            print(f"cloud-tasks-emulator: unhealthy: {error.code().name}", file=sys.stderr)
            return False
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


def main(argv: Sequence[str] | None = None) -> None:
    settings = parse_settings(argv)
    if settings.healthcheck:
        sys.exit(0 if healthcheck(settings) else 1)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        asyncio.run(run(settings))
    except StartupError as error:
        sys.exit(f"cloud-tasks-emulator: {error}")
