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

from emulator import __version__
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
    Option("--default-location", str, "location that ListLocations always shows", "ID"),
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


def parse_settings(argv: Sequence[str] | None = None) -> Settings:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = Settings()
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
    return (
        f"cloud-tasks-emulator {__version__} ready: gRPC {target}, HTTP {server.http_url}. "
        f"Connect: CloudTasksClient(transport=CloudTasksGrpcTransport("
        f'channel=grpc.insecure_channel("{target}")))'
    )


async def run(settings: Settings) -> None:
    server = EmulatorServer(settings)  # may raise StartupError
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


def main(argv: Sequence[str] | None = None) -> None:
    settings = parse_settings(argv)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        asyncio.run(run(settings))
    except StartupError as error:
        sys.exit(f"cloud-tasks-emulator: {error}")
