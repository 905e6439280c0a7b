"""Assembles the emulator on one event loop: the store, the gRPC server and the web app."""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence

import grpc
from aiohttp import web

from emulator.api import control_grpc, grpc_server, rest
from emulator.api.batch import BatchService
from emulator.api.iam import IamService
from emulator.api.locations import LocationsService
from emulator.api.service import CloudTasksService
from emulator.api.v2beta3 import V2beta3
from emulator.clock import Clock, RealClock, VirtualClock
from emulator.config import StartupQueue
from emulator.control import Control
from emulator.dispatch.dispatcher import Dispatcher
from emulator.dispatch.tokens import TokenMinter
from emulator.errors import StartupError
from emulator.settings import Settings
from emulator.store import Store
from emulator.store.records import Queue, QueueState
from emulator.web import make_app

log = logging.getLogger("emulator")


class EmulatorServer:
    """Start with `await start()`, stop with `await stop()`; ports 0 pick free ones."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        queues: Sequence[Queue | StartupQueue] = (),
    ) -> None:
        self.settings = settings or Settings()
        self.clock = clock or (VirtualClock() if self.settings.clock == "virtual" else RealClock())
        # Re-created by every reset().
        self.startup_queues = [
            q if isinstance(q, StartupQueue) else StartupQueue(q) for q in queues
        ]
        self.store = Store(
            self.clock,
            task_tombstone_ttl=self.settings.task_tombstone_ttl,
            queue_tombstone_ttl=self.settings.queue_tombstone_ttl,
        )
        self.tasks = CloudTasksService(self.store)
        self.minter = TokenMinter(issuer="", private_key_pem=_read_key(self.settings.oidc_key_file))
        self.dispatcher = Dispatcher(
            self.store,
            self.clock,
            minter=self.minter,
            app_engine_url=self.settings.app_engine_host,
        )
        self.tasks.run_task_hook = self.dispatcher.run_now
        self.control = Control(self.store, self.dispatcher, self.clock, self.reset)
        self._grpc: grpc.aio.Server | None = None
        self._web: web.AppRunner | None = None
        self.grpc_port = 0
        self.http_port = 0

    @property
    def grpc_target(self) -> str:
        return f"{connect_host(self.settings.host)}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://{connect_host(self.settings.host)}:{self.http_port}"

    async def start(self) -> None:
        if self.settings.oidc_key_file:
            try:
                self.minter.check_key()
            except ValueError as error:
                raise StartupError(
                    f"{self.settings.oidc_key_file} is not a PEM RSA private key: {error}"
                ) from None
        # No SO_REUSEPORT: a second emulator on a taken port must fail, not share it.
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        batch = BatchService(self.tasks)
        v2 = grpc_server.cloud_tasks_methods(self.tasks, IamService(self.store), batch)
        v2beta3 = V2beta3(v2, self.store, self.dispatcher.queue_stats).methods(v2)
        mixins = grpc_server.mixin_methods(
            batch, LocationsService(self.store, self.settings.default_location)
        )
        handlers = grpc_server.generic_handlers(
            {grpc_server.CLOUD_TASKS: v2, grpc_server.CLOUD_TASKS_V2BETA3: v2beta3, **mixins}
        )
        server.add_generic_rpc_handlers([*handlers, control_grpc.handler(self.control)])
        health = grpc_server.add_health(server)
        address = f"{_bind_host(self.settings.host)}:{self.settings.port}"
        try:
            self.grpc_port = server.add_insecure_port(address)
        except RuntimeError:  # grpcio reports a failed bind this way
            self.grpc_port = 0
        if not self.grpc_port:
            raise StartupError(f"cannot listen for gRPC on {address}: is the port taken?")
        await server.start()
        await grpc_server.mark_serving(health)
        self._grpc = server

        app = make_app(self.grpc_target, self.minter, self.control)
        common = {rpc: entry for table in mixins.values() for rpc, entry in table.items()}
        buffer = {"BufferTask": (rest.BufferTaskRequest, self.tasks.buffer_task)}
        for version, table in (("v2", v2), ("v2beta3", v2beta3)):
            api = rest.RestApi(rest.routes({**table, **common, **buffer}, version))
            rest.add_to(app, api, version)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.host, self.settings.http_port)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            await server.stop(0)
            raise StartupError(
                f"cannot listen for HTTP on port {self.settings.http_port}: {error}"
            ) from None
        self._web = runner
        self.http_port = runner.addresses[0][1]
        self.minter.issuer = self.settings.oidc_issuer or self.http_url
        self._create_startup_queues()
        self.dispatcher.start()

    def _create_startup_queues(self) -> None:
        for item in self.startup_queues:
            queue = self.store.put_queue(copy.deepcopy(item.queue))
            if item.state != QueueState.RUNNING:
                self.store.set_queue_state(queue.name, item.state)

    def reset(self) -> None:
        """A clean slate: no queues, tasks, tombstones or history; real time again; the
        start-up queues re-created. Attempts in flight finish but are forgotten."""
        self.store.reset()
        if isinstance(self.clock, VirtualClock):
            self.clock.reset()
        self._create_startup_queues()

    async def stop(self, grace: float = 0.5) -> None:
        await self.dispatcher.stop()
        if self._web is not None:
            await self._web.cleanup()
            self._web = None
        if self._grpc is not None:
            await self._grpc.stop(grace)
            self._grpc = None


def _read_key(path: str) -> bytes | None:
    if not path:
        return None
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as error:
        raise StartupError(f"cannot read the OIDC key file: {error}") from None


def _bind_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def connect_host(host: str) -> str:
    """Where a client on this machine connects for a server bound to `host`."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return _bind_host(host)
