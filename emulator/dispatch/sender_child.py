"""The delivery process: `Sender.exchange` for the emulator, in a process of its own.

Started by `emulator.dispatch.process_sender` with one end of a socket pair; it reads
requests (`emulator.dispatch.frames`), puts each on the wire as its own asyncio task with
the same `Sender` the emulator uses in-process, and writes back the outcomes, at most one
frame an event-loop turn. It decides nothing: deadlines, retries and the store stay with
the emulator, which cancels a request whose deadline came.

It ignores SIGINT and SIGTERM (a Ctrl-C reaches the whole process group, but the
emulator lets attempts in flight finish first) and exits when the emulator closes the
socket, or dies: nothing outlives the emulator.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import traceback

import aiohttp  # noqa: F401  (loaded before READY: the first request does not wait for it)

from emulator.core.errors import Code
from emulator.core.routes import RouteTable
from emulator.dispatch import frames
from emulator.dispatch.request import OutgoingRequest
from emulator.dispatch.sender import Outcome, Sender


class _Worker(asyncio.Protocol):
    def __init__(self, sender: Sender, closed: asyncio.Future[None]) -> None:
        self.sender = sender
        self.closed = closed
        self.reader = frames.FrameReader()
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.outbox: frames.Outbox | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.outbox = frames.Outbox(transport.write)
        self.outbox.put((frames.READY, os.getpid(), None))

    def data_received(self, data: bytes) -> None:
        begun = 0
        for kind, key, payload in self.reader.feed(data):
            if kind == frames.SEND:
                values, routes = payload
                request = frames.request_from(values)
                self.tasks[key] = self.loop.create_task(self._send(key, request, routes))
                begun += 1
            elif kind == frames.CANCEL:
                task = self.tasks.pop(key, None)
                if task is not None:
                    task.cancel()
        if begun:
            self._put((frames.BEGUN, begun, None))

    async def _send(self, key: int, request: OutgoingRequest, routes: RouteTable | None) -> None:
        try:
            outcome = await self.sender.exchange(request, routes)
        except Exception as error:  # a bug here must not strand the attempt
            self._put((frames.LOG, logging.ERROR, traceback.format_exc()))
            outcome = Outcome(error=f"{type(error).__name__}: {error}", error_code=Code.INTERNAL)
        if self.tasks.pop(key, None) is not None:  # (not cancelled meanwhile)
            self._put((frames.OUTCOME, key, frames.outcome_values(outcome)))

    def _put(self, message: frames.Message) -> None:
        assert self.outbox is not None
        self.outbox.put(message)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def serve(fd: int) -> None:
    loop = asyncio.get_running_loop()
    closed: asyncio.Future[None] = loop.create_future()
    sender = Sender()
    _, worker = await loop.connect_accepted_socket(
        lambda: _Worker(sender, closed), socket.socket(fileno=fd)
    )
    await closed
    tasks = list(worker.tasks.values())
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await sender.close()


def main(fd: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    asyncio.run(serve(fd))
