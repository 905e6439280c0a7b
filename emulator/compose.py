"""The composition root: the one place that builds the emulator and wires both ports.

It makes the store, the dispatcher and the transport-neutral services, builds the RPC
tables once (`emulator.service.tables`), and hands each port what it needs: the gRPC
port its handlers, the HTTP port its app (REST on the same tables, the Firebase route,
App Engine's location call, the dashboard, /metrics, the token routes and /_emulator/),
both served on one event loop and, for HTTP/1.1 and gRPC alike, on the one HTTP port.
Nothing below imports this module but the entry points.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import importlib
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

import grpc

from emulator.core import ports
from emulator.core.clock import Clock, RealClock, VirtualClock, utc_now
from emulator.core.errors import StartupError
from emulator.core.routes import Route, RouteTable
from emulator.core.settings import Settings, bracketed, connect_host
from emulator.dispatch.authorization import Authorizer
from emulator.dispatch.delivery import Delivery
from emulator.dispatch.dispatcher import Dispatcher
from emulator.dispatch.process_sender import ProcessSender
from emulator.dispatch.rough_edges import RoughEdgesRegistry
from emulator.dispatch.sender import RequestSender, Sender
from emulator.grpc import control as control_grpc
from emulator.grpc import server as grpc_server
from emulator.http import multiplex
from emulator.service import message_types, tables
from emulator.service.batch import BatchService
from emulator.service.control import Control
from emulator.service.iam import IamService
from emulator.service.locations import LocationsService
from emulator.service.service import CloudTasksService
from emulator.service.startup_queues import StartupQueue
from emulator.store import Store
from emulator.store.names import QueueName
from emulator.store.records import Queue, QueueState

if TYPE_CHECKING:
    from aiohttp import web

    from emulator.store.datadir import DataDir

# The HTTP port's modules: aiohttp and all that stands on it, half the memory, imported
# with the first HTTP/1 connection, on a thread while gRPC serves on (`_load_http`).
HTTP_MODULES = (
    "emulator.http.app",
    "emulator.http.app_engine_admin",
    "emulator.http.control",
    "emulator.http.dashboard",
    "emulator.http.firebase",
    "emulator.http.metrics",
    "emulator.http.rest",
    "emulator.http.token",
)


def load_http_side() -> None:
    """Import the HTTP port's modules (a thread may run this while the loop serves)."""
    for name in HTTP_MODULES:
        importlib.import_module(name)


log = logging.getLogger("emulator")


class EmulatorServer:
    """Start with `await start()`, stop with `await stop()`; ports 0 pick free ones."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        queues: Sequence[Queue | StartupQueue] = (),
        queue_template: Queue | StartupQueue | None = None,
        routes: Sequence[Route] = (),
    ) -> None:
        """`queue_template`: what --auto-create-queues creates a missing queue as (its
        name aside); None: every default. `routes`: see `emulator.core.routes`."""
        self.settings = settings or Settings()
        data_dir = _data_dir(self.settings.data_dir) if self.settings.data_dir else None
        if clock is None and self.settings.clock == "virtual":
            # A virtual clock keeps the offset it had when the data directory last saw it.
            offset = data_dir.clock_offset() if data_dir else timedelta(0)
            clock = VirtualClock(start=utc_now() + offset)
        self.clock = clock or RealClock()
        self.startup_queues = [  # (re-created by every reset())
            q if isinstance(q, StartupQueue) else StartupQueue(q) for q in queues
        ]
        self.store = Store(
            self.clock,
            task_tombstone_ttl=self.settings.task_tombstone_ttl,
            queue_tombstone_ttl=self.settings.queue_tombstone_ttl,
            attempt_history=self.settings.attempt_history,
            data_dir=data_dir,
        )
        self._data_dir = data_dir
        self.tasks = CloudTasksService(
            self.store, auto_create=_auto_create(self.settings, queue_template)
        )
        key_pem = _read_key(self.settings.oidc_key_file)
        self.authorizer = Authorizer(issuer="", private_key_pem=key_pem)
        self.routes = _route_table(routes)
        host = self.settings.app_engine_host
        self.sender = _sender(self.settings, self.store)  # in-process, or a delivery process
        delivery = Delivery(self.store, self.clock, self.sender, self.authorizer, host, self.routes)
        self.rough_edges = RoughEdgesRegistry(
            self.settings.rough_edges,
            {q.queue.name: q.rough_edges for q in self.startup_queues if q.rough_edges},
        )
        self.dispatcher = Dispatcher(self.store, self.clock, delivery, self.rough_edges)
        self.control = Control(
            self.store,
            self.dispatcher.view,
            self.clock,
            self.reset,
            advance_grace=self.settings.advance_grace,
            rough_edges=self.rough_edges,
            default_parent=_default_parent(self.settings),
        )
        self._grpc: grpc.aio.Server | None = None
        self._tables: tuple[
            tables.MethodTable, Callable[[], tables.MethodTable], dict[str, tables.MethodTable]
        ]
        self._web: web.AppRunner | None = None
        self._listener: multiplex.SharedPort | None = None
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
                self.authorizer.check_key()
            except ValueError as error:
                raise StartupError(
                    f"{self.settings.oidc_key_file} is not a PEM RSA private key: {error}"
                ) from None
        grpc_port = self.settings.port
        if grpc_port and grpc_port == self.settings.http_port:
            grpc_port = 0  # the HTTP port serves gRPC too; the gRPC-only one moves aside
        address = f"{bracketed(self.settings.host)}:{grpc_port}"
        # Checked here, before gRPC binds: its C core would log a line of its own ahead of
        # ours for a port that is taken.
        http_address = f"{bracketed(self.settings.host)}:{self.settings.http_port}"
        for kind, port, where, flag in (
            ("gRPC", grpc_port, address, "--port"),
            ("HTTP", self.settings.http_port, http_address, "--http-port"),
        ):
            problem = ports.bind_problem(self.settings.host, port, flag)
            if problem:
                raise StartupError(f"cannot listen for {kind} on {where}: {problem}")
        server = grpc_server.new_server()
        batch = BatchService(self.tasks)
        v2 = tables.cloud_tasks_methods(self.tasks, IamService(self.store), batch)
        mixins = tables.mixin_methods(
            batch, LocationsService(self.store, self.settings.default_location)
        )
        commit = self.store.commit  # before every answer: what a client is told is on disk
        handlers = grpc_server.generic_handlers({tables.CLOUD_TASKS: v2, **mixins}, commit)
        if self.settings.control:
            handlers.append(control_grpc.handler(self.control, commit))
        beta = functools.cache(lambda: _v2beta3_table(v2, self))  # with its first call
        handlers.append(grpc_server.LazyService(tables.CLOUD_TASKS_V2BETA3, beta, commit))
        server.add_generic_rpc_handlers(handlers)
        health = grpc_server.add_health(server)
        try:
            self.grpc_port = server.add_insecure_port(address)
        except RuntimeError:  # grpcio reports a failed bind this way
            self.grpc_port = 0
        if not self.grpc_port:
            raise StartupError(f"cannot listen for gRPC on {address}: is the port taken?")
        await server.start()
        self._grpc = server
        grpc_address = (connect_host(self.settings.host).strip("[]"), self.grpc_port)
        self._tables = (v2, beta, mixins)  # for the HTTP side, when it is loaded
        try:
            self._listener = await multiplex.serve(
                grpc_address, self.settings.host, self.settings.http_port, self._load_http
            )
        except OSError as error:
            await self.stop(0)
            raise StartupError(
                f"cannot listen for HTTP on port {self.settings.http_port}: {error}"
            ) from None
        self.http_port = self._listener.port
        self.authorizer.issuer = self.settings.oidc_issuer or self.http_url
        self._create_startup_queues()
        self.store.commit()
        for route in self.routes.routes:
            log.info("route: %s", route.describe())
        self.dispatcher.start()
        # Healthy (gRPC health SERVING, GET /healthz) once the start-up queues exist.
        self._listener.serving = True
        await grpc_server.mark_serving(health)

    async def _load_http(self) -> multiplex.HttpSide:
        """The HTTP side, loaded with the first HTTP/1 connection: imported on a thread
        while the loop serves on (HTTP/1 connections wait for it meanwhile)."""
        await asyncio.to_thread(load_http_side)
        from emulator.http import app as http_app

        self._web = await http_app.start(_http_app(self, *self._tables))
        return http_app.protocols(self._web)

    def _create_startup_queues(self) -> None:
        """Each start-up queue, configured as given; a new one in its given state (one
        kept in the data directory keeps its own state and tasks)."""
        for item in self.startup_queues:
            existed = self.store.find_queue(item.queue.name) is not None
            queue = self.store.put_queue(copy.deepcopy(item.queue))
            if not existed and item.state != QueueState.RUNNING:
                self.store.set_queue_state(queue.name, item.state)

    def reset(self) -> None:
        """A clean slate: no queues, tasks, tombstones or history; real time again; the
        start-up queues re-created. Attempts in flight are abandoned (cancelled)."""
        self.dispatcher.abandon()
        self.store.reset()
        if isinstance(self.clock, VirtualClock):
            self.clock.reset()
        self._create_startup_queues()
        self.rough_edges.restore()  # as configured at start-up

    async def stop(self, grace: float = 0.0) -> None:
        """Stop taking requests, let attempts in flight finish for up to `grace` seconds
        (their outcomes recorded as usual), cancel the rest (retried after a restart with
        --data-dir), then stop."""
        if self._listener is not None:
            self._listener.close()  # no new connections; open ones are closed below
        rpcs = self._grpc.stop(min(grace, 1.0)) if self._grpc is not None else None
        if grace > 0:
            in_flight = self.dispatcher.view.in_flight_total()
            if in_flight:
                log.info("stopping: up to %gs for %d attempt(s) in flight", grace, in_flight)
            settled = await self.dispatcher.drain(grace)
            if not settled:
                left = self.dispatcher.view.in_flight_total()
                log.warning("stopping: %d attempt(s) still in flight are abandoned", left)
        else:
            log.info("stopping")
        if rpcs is not None:
            await rpcs
            self._grpc = None
        if self._listener is not None:
            await self._listener.loaded()  # an HTTP side being loaded stops first
        if self._web is not None:
            await self._web.cleanup()
            self._web = None
        await self.dispatcher.stop()
        if self._data_dir is not None:
            self._data_dir.close()
        if self._listener is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1):
                    await self._listener.wait_closed()
            self._listener = None


def _route_table(routes: Sequence[Route]) -> RouteTable:
    """--route's table: production URLs sent to local handlers."""
    try:
        return RouteTable(routes)
    except ValueError as error:  # the same pattern twice
        raise StartupError(str(error)) from None


def _data_dir(path: str) -> DataDir:
    from emulator.store.datadir import DataDir  # (SQLite: only with --data-dir)

    return DataDir(path)


def _v2beta3_table(v2: tables.MethodTable, server: EmulatorServer) -> tables.MethodTable:
    """The v2beta3 RPCs (their message types loaded now, not at start-up)."""
    message_types.load_beta_types()
    from emulator.service.v2beta3 import V2beta3

    return V2beta3(v2, server.store, server.dispatcher.view).methods(v2)


def _sender(settings: Settings, store: Store) -> RequestSender:
    """Delivery's sender: in this process, or (`delivery_process`) a delivery process of
    its own, started with the store's first task."""
    if not settings.delivery_process:
        return Sender()
    process = ProcessSender()
    store.subscribe(process.prepare)
    return process


def _auto_create(settings: Settings, template: Queue | StartupQueue | None) -> Queue | None:
    """What --auto-create-queues creates a missing queue as (None: it is off)."""
    if not settings.auto_create_queues:
        return None
    if isinstance(template, StartupQueue):
        queue = copy.deepcopy(template.queue)
        queue.state = template.state
        return queue
    if template is not None:
        return copy.deepcopy(template)
    project, location = settings.default_project, settings.default_location
    return Queue(name=QueueName(project, location, "template"))  # the name is replaced


def _default_parent(settings: Settings) -> str:
    return f"projects/{settings.default_project}/locations/{settings.default_location}"


def _http_app(
    server: EmulatorServer,
    v2: tables.MethodTable,
    v2beta3: Callable[[], tables.MethodTable],
    mixins: dict[str, tables.MethodTable],
) -> web.Application:
    """The HTTP port's app: REST (v2, v2beta3) on the gRPC port's tables, the Firebase
    route, App Engine's location call, /metrics, the dashboard, the token routes and
    the control endpoints. Its modules are loaded by `load_http_side` first."""
    from emulator.http import app as http_app
    from emulator.http import (
        app_engine_admin,
        control,
        dashboard,
        firebase,
        metrics,
        rest,
        token,
    )

    settings = server.settings
    board = dashboard.Dashboard(
        server.store,
        server.dispatcher.view,
        server.control,
        server.clock,
        default_parent=_default_parent(settings),
        app_engine_url=settings.app_engine_host,
        with_control=settings.control,
    )
    # With a data directory, every answer waits for the commit of what it may show.
    commit = server.store.commit if settings.data_dir else None
    app = http_app.make_app(server.grpc_target, html_index=board.index, commit=commit)
    token.add_to(app, server.authorizer)
    control.add_to(app, server.control, enabled=settings.control)
    dashboard.add_to(app, board)
    common = {rpc: entry for table in mixins.values() for rpc, entry in table.items()}
    buffer = {"BufferTask": (rest.BufferTaskRequest, server.tasks.buffer_task)}
    for version, table in (("v2", v2), ("v2beta3", v2beta3())):
        api = rest.RestApi(rest.routes({**table, **common, **buffer}, version))
        rest.add_to(app, api, version)
    firebase.add_to(app, firebase.FirebaseRoute(server.tasks, settings.firebase_function_url))
    metrics.add_to(app, server.store, server.dispatcher.view)
    app_engine_admin.add_to(app, settings.default_location)
    return app


def _read_key(path: str) -> bytes | None:
    if not path:
        return None
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as error:
        raise StartupError(f"cannot read the OIDC key file: {error}") from None
