"""`Emulator`: the whole emulator inside your process, for tests and scripts.

    with Emulator() as emu:                  # server on a background thread
        client = emu.client()
        ...
        emu.advance(timedelta(hours=24))     # due tasks fire before this returns

    async with Emulator() as emu:            # server on the running event loop
        client = emu.async_client()
        ...
        await emu.aadvance(timedelta(hours=24))

Blocking methods (`advance`, `wait_until_idle`, `attempts`, `reset`) work from any thread
but the server's own loop; their `a`-prefixed coroutines work from any event loop.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar

import grpc
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import (
    CloudTasksGrpcAsyncIOTransport,
    CloudTasksGrpcTransport,
)

from emulator.compose import EmulatorServer, load_http_side
from emulator.core import limits
from emulator.core.loop_thread import LoopHost
from emulator.core.rough_edges import RoughEdges, RoughEdgesState
from emulator.core.routes import Route
from emulator.core.settings import DEFAULT_PROJECT, TEST_CLOCK, Settings
from emulator.dispatch.process_sender import ProcessSender
from emulator.service import convert, startup_routes
from emulator.service.control import DEFAULT_ADVANCE_TIMEOUT, DEFAULT_IDLE_TIMEOUT
from emulator.service.startup_queues import StartupQueue
from emulator.store import validation
from emulator.store.names import QueueName
from emulator.store.records import Attempt, Queue

T = TypeVar("T")

# As the client library's own channels: no message size limit of the client's own.
_CHANNEL_OPTIONS = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]

QueueSpec = str | Mapping[str, Any]  # a queue id / full name, or a Queue as a dict
# "PATTERN=LOCAL_BASE[;...]" as --route takes it, or {"pattern": ..., "to": ..., ...}
RouteSpec = str | Mapping[str, Any] | Route

load_http_side()  # the HTTP side, loaded with the class: start() is fast


class Emulator:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        http_port: int = 0,
        clock: str = TEST_CLOCK,
        project: str = DEFAULT_PROJECT,
        location: str = limits.DEFAULT_LOCATION,
        queues: Iterable[QueueSpec | StartupQueue] = (),
        auto_create_queues: bool | Mapping[str, Any] = False,
        routes: Iterable[RouteSpec] = (),
        **settings: Any,
    ) -> None:
        """`project` and `location` are where `parent` and `queue_name()` put queues, and
        the emulator's defaults (the location ListLocations puts first, the dashboard's
        parent) unless `default_location`/`default_project` say otherwise.

        `queues` are created at start and again by every `reset()`; each is a queue id,
        a full queue name, or a dict in the shape of `tasks_v2.Queue` (`name` required),
        which may add `rough_edges`: a `RoughEdges` of the queue's own.

        `auto_create_queues` (--auto-create-queues): True creates a queue with every
        default the first time a task is created in it, instead of NOT_FOUND; a dict in
        the shape of `tasks_v2.Queue` (no `name`) is the template such queues get.

        `routes` (--route): tasks for production URLs go to local handlers, each route
        `"PATTERN=LOCAL_BASE[;invoker=...][;audiences=...][;auth]"` or a dict with
        `pattern`, `to`, `auth`, `invoker`, `audiences` (docs/production-parity.md); a bad
        one raises ConfigError."""
        self.project, self.location = project, location
        settings.setdefault("default_project", project)
        settings.setdefault("default_location", location)
        template = None
        if isinstance(auto_create_queues, Mapping):
            template = self._queue({**auto_create_queues, "name": "template"})
        self.server = EmulatorServer(
            Settings(
                host=host,
                port=port,
                http_port=http_port,
                clock=clock,
                auto_create_queues=bool(auto_create_queues) or template is not None,
                **settings,
            ),
            queues=[self._queue(spec) for spec in queues],
            queue_template=template,
            routes=startup_routes.from_specs(routes, source="Emulator(routes=...)"),
        )
        self._host = LoopHost()
        self._channel: grpc.Channel | None = None

    @property
    def parent(self) -> str:
        """`projects/<project>/locations/<location>`: where `queue_name()` puts queues."""
        return f"projects/{self.project}/locations/{self.location}"

    def queue_name(self, queue_id: str) -> str:
        return queue_id if queue_id.startswith("projects/") else f"{self.parent}/queues/{queue_id}"

    def _queue(self, spec: QueueSpec | StartupQueue) -> Queue | StartupQueue:
        if isinstance(spec, StartupQueue):
            return spec
        fields = {"name": spec} if isinstance(spec, str) else dict(spec)
        fields["name"] = self.queue_name(str(fields.get("name", "")))
        edges = fields.pop("rough_edges", None)
        if edges is not None and not isinstance(edges, RoughEdges):
            raise TypeError(f"rough_edges: not a RoughEdges: {edges!r}")
        message = tasks_v2.Queue.pb(tasks_v2.Queue(fields))
        queue = convert.queue_from_pb(message, QueueName.parse(fields["name"]))
        validation.validate_queue(queue)  # the same limits as CreateQueue
        return StartupQueue(queue, rough_edges=edges) if edges is not None else queue

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Emulator:
        """Start on a background thread with its own event loop."""
        self._host.start_thread("cloud-tasks-emulator")
        try:
            self._host.run(self._start(), "async with Emulator()")
        except BaseException:
            self._host.release()
            raise
        return self

    def stop(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._host.threaded:
            self._host.run(self.server.stop(0), "async with Emulator()")
            self._host.release()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Emulator:
        self._host.adopt()
        await self._start()
        return self

    async def _start(self) -> None:
        await self.server.start()
        if isinstance(self.server.sender, ProcessSender):  # asked for: ready before any task
            await self.server.sender.start()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.server.stop(0)
        self._host.release()

    # -- where and how to connect --------------------------------------------------------

    @property
    def grpc_target(self) -> str:
        """`host:port` of the gRPC server, for `grpc.insecure_channel()`."""
        return self.server.grpc_target

    @property
    def http_url(self) -> str:
        """`http://host:port` of the HTTP server (OIDC discovery, /_emulator/ endpoints)."""
        return self.server.http_url

    @property
    def emulator_host(self) -> str:
        """`host:port` for `CLOUD_TASKS_EMULATOR_HOST`: the one port that serves gRPC, REST
        and the Firebase route."""
        return self.server.http_url.removeprefix("http://")

    def client(self) -> tasks_v2.CloudTasksClient:
        """A sync `CloudTasksClient` on an insecure channel to this emulator."""
        if self._channel is None:
            self._channel = grpc.insecure_channel(self.grpc_target, options=_CHANNEL_OPTIONS)
        return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=self._channel))

    def rest_client(self) -> tasks_v2.CloudTasksClient:
        """A sync `CloudTasksClient` over REST (JSON on the HTTP port), no credentials."""
        return tasks_v2.CloudTasksClient(
            transport="rest",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options=ClientOptions(api_endpoint=self.http_url),
        )

    def async_client(self) -> tasks_v2.CloudTasksAsyncClient:
        """A `CloudTasksAsyncClient` for the running event loop (a new channel each call)."""
        channel = grpc.aio.insecure_channel(self.grpc_target, options=_CHANNEL_OPTIONS)
        return tasks_v2.CloudTasksAsyncClient(
            transport=CloudTasksGrpcAsyncIOTransport(channel=channel)
        )

    # -- control -----------------------------------------------------------------------

    def reset(self) -> None:
        """Forget all queues, tasks, tombstones and attempts; back to real time; re-create
        the start-up queues."""

        self._host.call(self.server.control.reset, "reset() from the loop directly")

    def advance(
        self,
        delta: float | timedelta | None = None,
        *,
        to: datetime | None = None,
        timeout: float = DEFAULT_ADVANCE_TIMEOUT,
    ) -> datetime:
        """Move the clock forward by `delta` (seconds or a timedelta) or `to` a time; every
        task due by then, retries included, fires in order before this returns."""
        return self._host.run(self._advance(delta, to, timeout), "await emu.aadvance(...)")

    async def aadvance(
        self,
        delta: float | timedelta | None = None,
        *,
        to: datetime | None = None,
        timeout: float = DEFAULT_ADVANCE_TIMEOUT,
    ) -> datetime:
        return await self._host.arun(self._advance(delta, to, timeout))

    async def _advance(
        self, delta: float | timedelta | None, to: datetime | None, timeout: float
    ) -> datetime:
        by = timedelta(seconds=delta) if isinstance(delta, int | float) else delta
        return await self.server.control.advance(by, to=to, timeout=timeout)

    def wait_until_idle(self, timeout: float = DEFAULT_IDLE_TIMEOUT) -> None:
        """Return when no task is due now and no attempt is in flight (tasks scheduled
        later do not count); raise with what is still busy after `timeout` seconds."""
        self._host.run(self.server.control.wait_until_idle(timeout), "await emu.await_until_idle()")

    async def await_until_idle(self, timeout: float = DEFAULT_IDLE_TIMEOUT) -> None:
        await self._host.arun(self.server.control.wait_until_idle(timeout))

    def wait_for_attempts(
        self,
        count: int,
        *,
        queue: str | None = None,
        task: str | None = None,
        timeout: float = DEFAULT_IDLE_TIMEOUT,
    ) -> list[Attempt]:
        """Block until at least `count` attempts (of `queue`/`task`, as in `attempts()`)
        have settled since the last reset: answered, failed to connect, or timed out. Returns
        the settled ones, oldest first; raises DeadlineExceeded after `timeout` seconds."""
        return self._host.run(
            self._settled(count, queue, task, timeout), "await emu.await_attempts(...)"
        )

    async def await_attempts(
        self,
        count: int,
        *,
        queue: str | None = None,
        task: str | None = None,
        timeout: float = DEFAULT_IDLE_TIMEOUT,
    ) -> list[Attempt]:
        """`wait_for_attempts()` for async code, from any event loop."""
        return await self._host.arun(self._settled(count, queue, task, timeout))

    async def _settled(
        self, count: int, queue: str | None, task: str | None, timeout: float
    ) -> list[Attempt]:
        return copy.deepcopy(
            await self.server.control.wait_for_attempts(count, queue, task, timeout)
        )

    def attempts(self, queue: str | None = None, task: str | None = None) -> list[Attempt]:
        """Every delivery attempt since the last reset, oldest first, optionally of one
        queue and/or task. A short queue id matches that id in every project and location,
        a full queue name only that queue; a task is a short id or a full name. The newest
        `attempt_history` (10,000) are kept."""
        return self._host.call(
            lambda: copy.deepcopy(self.server.control.attempts(queue, task)),
            "attempts() from the loop directly",
        )

    def set_rough_edges(
        self, edges: RoughEdges | None = None, *, queue: str | None = None
    ) -> RoughEdgesState:
        """Switch production's rough edges (docs/production-parity.md) on or off at run time: for
        `queue` (an id in `parent`, or a full name; it need not exist yet), or for every
        queue without its own. `edges` None: the start-up settings again (the
        `rough_edges` setting); `reset()` restores those too. Returns what now applies."""
        return self._host.call(
            lambda: self.server.control.set_rough_edges(self._queue_or_none(queue), edges),
            "set_rough_edges() from the loop directly",
        )

    def rough_edges(self, queue: str | None = None) -> RoughEdgesState:
        """What applies to `queue` (None: the emulator's own settings): the settings, seed
        filled in; whether the queue has its own; a throttled queue's current rate."""
        return self._host.call(
            lambda: self.server.control.rough_edges(self._queue_or_none(queue)),
            "rough_edges() from the loop directly",
        )

    def _queue_or_none(self, queue: str | None) -> str | None:
        return self.queue_name(queue) if queue else None

    @property
    def now(self) -> datetime:
        """The emulator's current time."""
        return self.server.clock.now()
