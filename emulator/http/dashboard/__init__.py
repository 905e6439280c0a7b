"""The web dashboard on the HTTP port: queues at `/`, a page per queue and per task under
`/ui/`, kept live by server-sent events.

Pages are rendered on the server (Jinja2, every value escaped) from `views`, and a little
plain JavaScript (`static/app.js`) refreshes their live part when the emulator changes and
sends the buttons' and forms' requests to the REST API and `/_emulator/`: the dashboard
changes nothing itself, so every action goes through the same code as the API's. No
build step, nothing fetched from elsewhere; Jinja2 is imported on the first page.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from emulator.core import errors
from emulator.core.clock import Clock, VirtualClock, pace
from emulator.core.durations import format_duration
from emulator.core.version import __version__
from emulator.dispatch.view import DeliveryView
from emulator.http.dashboard import views
from emulator.service.control import Control
from emulator.store import Store
from emulator.store.names import QueueName, TaskName

UPDATE_EVERY = 0.5  # seconds: at most two live updates a second
KEEP_ALIVE = 15.0  # seconds between comments on an idle event stream
STATIC = {"app.js": "text/javascript", "style.css": "text/css"}
SECURITY_HEADERS = {
    # Nothing but this origin's own script and styles; no inline script at all.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@dataclass
class Dashboard:
    store: Store
    delivery: DeliveryView
    control: Control
    clock: Clock
    default_parent: str
    app_engine_url: str
    with_control: bool

    def __post_init__(self) -> None:
        self._env: Any = None
        self.feed = LiveFeed(self.store)

    # -- rendering -------------------------------------------------------------------------

    def _environment(self) -> Any:
        if self._env is None:
            import jinja2

            env = jinja2.Environment(
                loader=jinja2.PackageLoader("emulator.http.dashboard", "templates"),
                autoescape=True,
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
            )
            env.filters.update(
                when=_when, ms=_ms, seconds=format_duration, number=_number, answer=views.answer
            )
            self._env = env
        return self._env

    def _render(self, request: web.Request, template: str, **values: Any) -> web.Response:
        now = self.clock.now()
        values.update(
            version=__version__,
            now=now,
            clock=self._clock_info(),
            control=self.with_control,
            live_url=str(request.rel_url.with_query({**request.query, "fragment": "1"})),
        )
        page = self._environment().get_template(template)
        if request.query.get("fragment"):  # the live part only, as base.html wraps it
            clock = self._environment().get_template("clock.html").render(values)
            html = clock + "".join(page.blocks["live"](page.new_context(values)))
        else:
            html = page.render(values)
        return web.Response(text=html, content_type="text/html", headers=SECURITY_HEADERS)

    def _clock_info(self) -> dict[str, Any]:
        virtual = isinstance(self.clock, VirtualClock)
        ahead = self.clock.offset if isinstance(self.clock, VirtualClock) else timedelta(0)
        return {
            "virtual": virtual,
            "ahead": _ahead(ahead) if ahead > timedelta(0) else "",
            "offset_ms": int(ahead.total_seconds() * 1000),  # for the task form's delay
        }

    def _missing(self, request: web.Request, what: str) -> web.Response:
        response = self._render(request, "missing.html", what=what)
        response.set_status(404)
        return response

    # -- pages -----------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.Response:
        rows = views.queue_rows(self.store, self.delivery, self.clock.now())
        return self._render(request, "queues.html", rows=rows, default_parent=self.default_parent)

    async def queue(self, request: web.Request) -> web.Response:
        name = _queue_name(request)
        if name is None or self.store.find_queue(name) is None:
            return self._missing(request, "queue")
        query = request.query
        filter_ = query.get("filter", "all")
        order = query.get("order", "created")
        size = _int(query.get("size"), 50)
        view = views.queue_page(
            self.store,
            self.delivery,
            name,
            self.clock.now(),
            filter_=filter_ if filter_ in views.FILTERS else "all",
            order=order if order in views.ORDERS else "created",
            search=query.get("q", "")[:500],
            page=max(_int(query.get("page"), 1), 1),
            size=size if size in views.PAGE_SIZES else 50,
        )

        def page_url(number: int) -> str:
            kept = {k: v for k, v in query.items() if k not in ("page", "fragment")}
            return f"{request.path}?{urlencode({**kept, 'page': number})}"

        return self._render(
            request,
            "queue.html",
            view=view,
            filters=views.FILTERS,
            orders=views.ORDERS,
            sizes=views.PAGE_SIZES,
            page_url=page_url,
        )

    async def task(self, request: web.Request) -> web.Response:
        name = _queue_name(request)
        if name is None or self.store.find_queue(name) is None:
            return self._missing(request, "queue")
        try:
            task_name = TaskName.parse(f"{name}/tasks/{request.match_info['task']}")
        except errors.InvalidArgument:
            return self._missing(request, "task")
        attempts = self.control.attempts(str(name), request.match_info["task"])
        view = views.task_detail(
            self.store,
            self.delivery,
            task_name,
            attempts,
            self.clock.now(),
            app_engine_url=self.app_engine_url,
        )
        if view.task is None and not attempts:
            return self._missing(request, "task")
        return self._render(request, "task.html", view=view)

    async def static(self, request: web.Request) -> web.Response:
        file = request.match_info["file"]
        if file not in STATIC:
            raise errors.NotFound(f"No such dashboard file: {file}.")
        text = resources.files("emulator.http.dashboard").joinpath("static", file).read_text()
        headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache"}
        return web.Response(text=text, content_type=STATIC[file], headers=headers)

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: `change` when the emulator changed, at most every half
        second; a comment every 15 s while nothing happens."""
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        seen = self.feed.version
        with contextlib.suppress(ConnectionError):
            await response.write(b"retry: 2000\n\n")
            while True:
                try:
                    async with asyncio.timeout(KEEP_ALIVE):
                        await self.feed.wait_past(seen)
                except TimeoutError:
                    await response.write(b": idle\n\n")
                    continue
                seen = self.feed.version
                await response.write(f"event: change\ndata: {seen}\n\n".encode())
                await pace(UPDATE_EVERY)
        return response


class LiveFeed:
    """A count of the store's changes, and a way to wait for the next one."""

    def __init__(self, store: Store) -> None:
        self.version = 0
        self._waiters: list[asyncio.Future[None]] = []
        store.watch(self._changed)

    def _changed(self) -> None:
        self.version += 1
        if self._waiters:
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._waiters.clear()

    async def wait_past(self, version: int) -> None:
        while self.version == version:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:  # a timed-out wait leaves nothing behind
                if waiter in self._waiters:
                    self._waiters.remove(waiter)


def _queue_name(request: web.Request) -> QueueName | None:
    info = request.match_info
    try:
        return QueueName.parse(
            f"projects/{info['project']}/locations/{info['location']}/queues/{info['queue']}"
        )
    except errors.InvalidArgument:
        return None


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"


def _ms(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"


def _number(value: float) -> str:
    return f"{value:g}"


def _ahead(offset: timedelta) -> str:
    days, rest = divmod(round(offset.total_seconds()), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    return " ".join(f"{n}{unit}" for n, unit in parts if n) or "<1s"


def add_to(app: web.Application, dashboard: Dashboard) -> None:
    """The pages under /ui/ (the queues page is `/` for a browser: see `wants_html`)."""
    prefix = "/ui/queues/{project}/{location}/{queue}"
    app.router.add_get("/ui/", dashboard.index)
    app.router.add_get(prefix, dashboard.queue)
    app.router.add_get(prefix + "/tasks/{task}", dashboard.task)
    app.router.add_get("/ui/events", dashboard.events)
    app.router.add_get("/ui/static/{file}", dashboard.static)


def wants_html(request: web.Request) -> bool:
    """A browser asking for a page (not a client asking for JSON)."""
    accept = request.headers.get("Accept", "")
    return "text/html" in accept
