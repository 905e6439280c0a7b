"""One delivery process (`emulator.dispatch.sender_child`) as `ProcessSender` sees it:
the process, its end of the socket pair and the attempts it carries.

Loaded with the first task (`ProcessSender` imports it then), so that an emulator's
start-up does not pay for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path

from emulator.core.errors import Code
from emulator.core.routes import RouteTable
from emulator.dispatch import frames
from emulator.dispatch.request import OutgoingRequest
from emulator.dispatch.sender import Outcome

log = logging.getLogger("emulator.dispatch")

CLOSE_WAIT = 5.0  # seconds a closed child gets to exit before it is killed
LOST = "the delivery process exited"

# The package's own folder first: the child imports this very copy of the emulator.
_ROOT = str(Path(__file__).resolve().parents[2])
_CHILD = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from emulator.dispatch.sender_child import main; main(int(sys.argv[2]))"
)


def spawn(lost: Callable[[Link], None]) -> Link:
    """A new delivery process (ready once `Link.ready` says so); `lost(link)` is called
    if it dies. Raises OSError if it cannot be started."""
    if sys.platform == "win32":  # (no inherited descriptors there: pass_fds)
        raise OSError("not on Windows")
    ours, theirs = socket.socketpair()
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", _CHILD, _ROOT, str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # stdout is the emulator's (its ready line)
        )
    except OSError:
        ours.close()
        raise
    finally:
        theirs.close()
    return Link(process, ours, lost)


class Link(asyncio.Protocol):
    """One delivery process, its socket and the attempts it carries."""

    def __init__(
        self, process: subprocess.Popen[bytes], sock: socket.socket, lost: Callable[[Link], None]
    ) -> None:
        self.process = process
        self.loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[bool] = self.loop.create_future()
        self._lost = lost
        self._reader = frames.FrameReader()
        self._outbox: frames.Outbox | None = None
        self._transport: asyncio.Transport | None = None
        self._pending: dict[int, asyncio.Future[Outcome]] = {}
        self._began: deque[Callable[[], None] | None] = deque()  # in the order sent
        self._next = 0
        self._closing = False
        self._reaping: asyncio.Task[None] | None = None
        self._connected = self.loop.create_task(self._connect(sock))

    @property
    def serving(self) -> bool:
        return self.ready.done() and self.ready.result() and self._transport is not None

    async def _connect(self, sock: socket.socket) -> None:
        await self.loop.connect_accepted_socket(lambda: self, sock)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._outbox = frames.Outbox(transport.write)

    async def send(
        self,
        request: OutgoingRequest,
        routes: RouteTable | None,
        began: Callable[[], None] | None,
    ) -> Outcome:
        assert self._outbox is not None
        key = self._next = self._next + 1
        answer: asyncio.Future[Outcome] = self.loop.create_future()
        self._pending[key] = answer
        self._began.append(began)
        # (The one route table crosses once a frame: pickle writes a repeated object once.)
        self._outbox.put((frames.SEND, key, (frames.request_values(request), routes)))
        try:
            return await answer
        except asyncio.CancelledError:
            if self._pending.pop(key, None) is not None and self._transport is not None:
                self._outbox.put((frames.CANCEL, key, None))
            raise

    def data_received(self, data: bytes) -> None:
        for kind, key, payload in self._reader.feed(data):
            if kind == frames.OUTCOME:
                answer = self._pending.pop(key, None)
                if answer is not None and not answer.done():
                    answer.set_result(frames.outcome_from(payload))
            elif kind == frames.BEGUN:
                for _ in range(key):
                    self._begin(self._began.popleft())
            elif kind == frames.READY:
                if not self.ready.done():
                    self.ready.set_result(True)
            elif kind == frames.LOG:
                log.log(key, "in the delivery process: %s", payload)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        for answer in self._pending.values():
            if not answer.done():
                answer.set_result(Outcome(error=LOST, error_code=Code.UNAVAILABLE))
        self._pending.clear()
        while self._began:
            self._begin(self._began.popleft())
        if not self.ready.done():
            self.ready.set_result(False)
        if not self._closing:
            self._lost(self)  # the next attempt starts another
            self._reaping = self.loop.create_task(self._reap_lost())

    @staticmethod
    def _begin(began: Callable[[], None] | None) -> None:
        if began is not None:
            began()

    async def close(self) -> None:
        self._closing = True
        with contextlib.suppress(OSError):
            await self._connected
        if self._outbox is not None:
            self._outbox.flush()  # the cancels of the attempts just abandoned
        if self._transport is not None:
            self._transport.close()  # the child sees the end of its input and exits
        await self._reap()

    async def _reap_lost(self) -> None:
        await self._reap()
        if self.ready.result():
            log.warning(
                "%s (code %s): its attempts in flight failed as UNAVAILABLE and are retried",
                LOST,
                self.process.returncode,
            )

    async def _reap(self) -> None:
        try:
            await asyncio.to_thread(self.process.wait, CLOSE_WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)
