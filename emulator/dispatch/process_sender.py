"""`ProcessSender`: delivery's HTTP work on a core of its own.

The same interface as `emulator.dispatch.sender.Sender`, but the aiohttp work (building
the wire request, sending it, reading the answer) runs in a child process
(`emulator.dispatch.sender_child`), so that it does not share one core with the RPC front.
Every decision stays here: the dispatcher takes tokens, counts caps, keeps the deadline
on the emulator's clock and settles the attempt in the store; the child only carries the
request. The two talk over a socket pair (`emulator.dispatch.frames`), one frame an
event-loop turn each way.

- The child starts with the emulator's first task (`prepare`, a listener of the store),
  not with the emulator: an emulator that is given no task never pays for it, and one
  whose first task waits for its time, or in a paused queue, has it ready by then. Until
  it is ready (a few hundred milliseconds), and if it cannot start, requests go out in
  this process (`Sender`), so no attempt waits for it.
- An attempt counts as begun (`began()`: the dispatcher's limit on attempts not yet on the
  wire) once the child has taken its request up, so a busy child holds tokens back as a
  busy event loop does.
- A deadline (or a reset, or the emulator stopping) cancels the attempt here; the child
  is told to cancel the request, and the outcome is the deadline's, as in-process.
- If the child dies, its attempts in flight fail as UNAVAILABLE (and are retried as the
  queue says) and the next send starts another; one that dies before it is ready twice
  in a row leaves delivery in this process, with a warning.
- `close()` closes the socket; the child cancels what it still sends and exits (it is
  killed if it has not within a few seconds).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from emulator.core.routes import RouteTable
from emulator.dispatch.request import OutgoingRequest
from emulator.dispatch.sender import Outcome, Sender, container_hint

if TYPE_CHECKING:
    from emulator.dispatch.sender_link import Link
    from emulator.store.store import Change

log = logging.getLogger("emulator.dispatch")

# Children in a row that die before they are ready: past this, delivery stays in-process.
MAX_FAILED_STARTS = 2


class ProcessSender:
    def __init__(self) -> None:
        self._local = Sender()  # until the child is ready, or if it cannot start
        self._child: Link | None = None
        self._failed_starts = 0

    @property
    def pid(self) -> int | None:
        """The delivery process's id, once it is ready (None before, or without one)."""
        child = self._child
        return child.process.pid if child is not None and child.serving else None

    async def start(self) -> bool:
        """Start the child now if it is not running, and wait until it is ready; whether
        it is (False: delivery runs in this process)."""
        child = self._child or self._spawn()
        return child is not None and await asyncio.shield(child.ready)

    def prepare(self, change: Change) -> None:
        """A store listener: with a task, attempts are coming; start the child if it is not
        running."""
        if change.task is not None and self._child is None:
            self._spawn()

    async def send(
        self,
        request: OutgoingRequest,
        routes: RouteTable | None = None,
        began: Callable[[], None] | None = None,
    ) -> Outcome:
        child = self._child or self._spawn()
        if child is None or not child.serving:
            return await self._local.send(request, routes, began)
        outcome = await child.send(request, routes, began)
        if outcome.refused:
            container_hint(outcome.refused)
        return outcome

    async def close(self) -> None:
        child, self._child = self._child, None
        self._failed_starts = 0
        if child is not None:
            await child.close()
        await self._local.close()

    def _spawn(self) -> Link | None:
        if self._failed_starts >= MAX_FAILED_STARTS:
            return None
        from emulator.dispatch import sender_link  # noqa: PLC0415  (with the first task)

        try:
            self._child = sender_link.spawn(self._lost)
        except OSError as error:
            self._failed_starts = MAX_FAILED_STARTS
            log.warning("cannot start the delivery process (%s): delivering in this one", error)
        return self._child

    def _lost(self, child: Link) -> None:
        """The child died (not closed by us): its attempts have failed; start afresh."""
        if self._child is child:
            self._child = None
        if child.ready.result():
            self._failed_starts = 0
            return
        self._failed_starts += 1
        if self._failed_starts >= MAX_FAILED_STARTS:
            log.warning(
                "the delivery process exited before it was ready, twice: delivering in this one"
            )
