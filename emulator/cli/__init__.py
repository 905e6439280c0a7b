"""The command line: `cloud-tasks-emulator` / `python -m emulator`.

Every flag has an environment variable CLOUD_TASKS_EMULATOR_<FLAG>; a flag given on the
command line wins over its variable.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from emulator.cli.exports import env_init, gcloud_variables, terraform_variables, write_credentials
from emulator.cli.options import ENV_INIT_OPTIONS, OPTIONS, Option
from emulator.cli.parser import (
    QUEUES_ENV,
    ROUTE_ENV,
    build_env_init_parser,
    build_parser,
    emulator_host,
    parse_settings,
)
from emulator.core import logs
from emulator.core.errors import StartupError
from emulator.core.settings import EMULATOR_HOST_ENV, Settings, connect_host
from emulator.core.version import __version__
from emulator.service import message_types

if TYPE_CHECKING:
    from emulator.compose import EmulatorServer
    from emulator.service.startup_queues import StartupFile, StartupQueue

__all__ = [
    "ENV_INIT_OPTIONS",
    "OPTIONS",
    "Option",
    "build_env_init_parser",
    "build_parser",
    "emulator_host",
    "env_init",
    "gcloud_variables",
    "healthcheck",
    "main",
    "parse_settings",
    "ready_line",
    "run",
    "startup_file",
    "startup_queues",
    "terraform_variables",
    "write_credentials",
]

log = logging.getLogger("emulator")


def ready_line(server: EmulatorServer) -> str:
    listening = server.settings.host
    where = f" (listening on {listening})" if listening in ("0.0.0.0", "::", "") else ""
    host = server.http_url.removeprefix("http://")
    return (
        f"cloud-tasks-emulator {__version__} ready{where}: gRPC {server.grpc_target}, "
        f"HTTP {server.http_url}. Connect: export {EMULATOR_HOST_ENV}={host} "
        "(REST, gRPC and Firebase on that one port)"
    )


def startup_queues(settings: Settings) -> list[StartupQueue]:
    """The queues of --config and --queue (StartupError names the file, line and field)."""
    return startup_file(settings).queues


def startup_file(settings: Settings) -> StartupFile:
    """What --config, --queue and --route say: the queues (StartupError names the file,
    line and field), whether queues are created on first use, from which template, and
    the routes (the file's, then --route's)."""
    from emulator.service import startup_queues as queue_files
    from emulator.service import startup_routes

    names = {"project": settings.default_project, "location": settings.default_location}
    found = (
        queue_files.read_file(settings.config, **names)
        if settings.config
        else queue_files.StartupFile([])
    )
    queues = found.queues
    queues += queue_files.parse_flags(settings.queues, source=f"--queue/{QUEUES_ENV}", **names)
    seen: set[str] = set()
    for item in queues:
        name = str(item.queue.name)
        if name in seen:
            raise StartupError(f"queue {name} is configured twice (--config and --queue)")
        seen.add(name)
    found.routes += startup_routes.from_specs(settings.routes, source=f"--route/{ROUTE_ENV}")
    return found


async def run(settings: Settings) -> None:
    import asyncio

    from emulator.compose import EmulatorServer

    found = startup_file(settings)  # may raise StartupError
    settings.auto_create_queues = settings.auto_create_queues or found.auto_create_queues
    if found.rough_edges is not None:  # the flags win, field by field
        settings.rough_edges = settings.rough_edges.over(found.rough_edges)
    server = EmulatorServer(
        settings, queues=found.queues, queue_template=found.template, routes=found.routes
    )
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():  # a second signal: stop at once
            log.warning("stopping at once; attempts in flight are retried after a restart")
            os._exit(1)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    print(ready_line(server), flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop(grace=settings.shutdown_grace)


def healthcheck(settings: Settings, timeout: float = 3.0) -> bool:
    """Whether the emulator at the configured address is up: `GET /healthz` on the HTTP
    port (served once every surface is), or gRPC health on the gRPC port if the HTTP port
    is picked at start. Docker runs this every second, so it loads neither gRPC nor
    asyncio."""
    from emulator import probe

    host = connect_host(settings.host)
    try:
        if settings.http_port:
            probe.http_ok(host, settings.http_port, "/healthz", timeout)
        else:
            probe.grpc_serving(host, settings.port, timeout)
    except probe.Unhealthy as error:
        print(f"cloud-tasks-emulator: unhealthy: {error}", file=sys.stderr)
        return False
    return True


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["env-init"]:
        try:
            print(env_init(args[1:]))
        except StartupError as error:
            sys.exit(f"cloud-tasks-emulator: {error}")
        return
    settings = parse_settings(args)
    if settings.healthcheck:
        sys.exit(0 if healthcheck(settings) else 1)
    import asyncio

    logs.configure(settings.log_level, settings.log_format)
    message_types.load_message_types()  # this process builds no client: the types alone
    try:
        asyncio.run(run(settings))
    except StartupError as error:
        sys.exit(f"cloud-tasks-emulator: {error}")
