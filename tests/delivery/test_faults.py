"""Targets that misbehave on the wire: a refused port, a reset or closed connection, a
handler that hangs or drips one byte a second, a redirect loop, a 50 MB answer.

Each target is a raw socket server on 127.0.0.1 (`FaultTarget`: plain blocking sockets,
one thread per connection) that records every request it reads and everything it did
with the connection. For each fault the tests check, from both sides: one failed attempt
per delivery try, with the status docs/behaviour.md's "Attempt status" names; `response_count`
counting real HTTP responses only; the retry exactly one backoff (10 s) after the failure,
on the virtual clock; and other tasks, in the same queue and another, delivered while the
bad one hangs or waits for its retry.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from google.api_core import exceptions
from google.cloud import tasks_v2
from google.protobuf import field_mask_pb2

from emulator import Emulator
from emulator.core import errors

from support import Client, Receiver, duration, get_full, make_queue

BACKOFF = 10  # seconds: min_backoff == max_backoff, so every retry is due exactly then
DEADLINE = 15  # the bad task's dispatch_deadline, on the emulator's clock
BIG = 50 * 1000 * 1000  # the 50 MB body
CHUNK = 64 * 1024
# What the target may push into the sockets' buffers before the emulator stops reading
# (the emulator reads 64 KiB, then closes): far below the 50 MB it offers.
BIG_BOUND = 8 * 1024 * 1024


# -- a raw-socket target --------------------------------------------------------------------


@dataclass
class Request:
    """One request a `FaultTarget` read: the request line, headers (names lower-cased)."""

    line: str
    headers: dict[str, str]

    @property
    def retry_count(self) -> int:
        return int(self.headers["x-cloudtasks-taskretrycount"])


@dataclass
class Connection:
    """One accepted connection, and what became of it."""

    sock: socket.socket
    stopping: threading.Event
    requests: list[Request] = field(default_factory=list)
    sent: int = 0  # bytes the target wrote
    peer_closed: threading.Event = field(default_factory=threading.Event)
    _buffer: bytes = b""

    def read_request(self) -> Request | None:
        """The next request on the connection (its body read and dropped); None at EOF."""
        while b"\r\n\r\n" not in self._buffer:
            chunk = self._recv()
            if not chunk:
                return None
            self._buffer += chunk
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for header in lines:
            name, _, value = header.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self._buffer) < length:
            chunk = self._recv()
            if not chunk:
                return None
            self._buffer += chunk
        self._buffer = self._buffer[length:]
        return Request(line, headers)

    def _recv(self) -> bytes:
        try:
            chunk = self.sock.recv(65536)
        except OSError:
            chunk = b""
        if not chunk and not self.stopping.is_set():
            self.peer_closed.set()
        return chunk

    def send(self, data: bytes) -> bool:
        """Write `data`; False (and `peer_closed` set) if the peer has gone."""
        try:
            self.sock.sendall(data)
        except OSError:
            if not self.stopping.is_set():
                self.peer_closed.set()
            return False
        self.sent += len(data)
        return True

    def wait_closed(self, timeout: float | None) -> bool:
        """Wait up to `timeout` real seconds for the peer to close the connection (data it
        sends meanwhile is dropped); True if it did, False on timeout or when stopping."""
        while not self.stopping.is_set():
            readable, _, _ = select.select([self.sock], [], [], timeout)
            if not readable:
                return False
            if not self._recv():
                return not self.stopping.is_set()
        return False

    def reset(self) -> None:
        """Close with an RST (SO_LINGER 0) instead of a FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


# A behaviour answers one request; True keeps the connection open for the next one.
Behaviour = Callable[[Connection, Request], bool]


class FaultTarget:
    """A TCP server on 127.0.0.1 that reads each HTTP request and lets `behaviour` do what
    it likes with the connection; one thread per connection, blocking sockets."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.connections: list[Connection] = []
        self.arrived = threading.Condition()
        self.stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._wake_r, self._wake_w = socket.socketpair()
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while True:
            readable, _, _ = select.select([self._listener, self._wake_r], [], [])
            if self._wake_r in readable:
                return
            sock, _ = self._listener.accept()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, CHUNK)
            connection = Connection(sock, self.stopping)
            with self.arrived:
                self.connections.append(connection)
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, connection: Connection) -> None:
        with contextlib.suppress(OSError):
            while (request := connection.read_request()) is not None:
                with self.arrived:
                    connection.requests.append(request)
                    self.arrived.notify_all()
                if not self.behaviour(connection, request):
                    break
        with contextlib.suppress(OSError):
            connection.sock.close()

    @property
    def requests(self) -> list[Request]:
        with self.arrived:
            return [r for c in self.connections for r in c.requests]

    def wait_for(self, count: int, timeout: float = 15) -> list[Request]:
        """Once `count` requests have arrived, all of them."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{len(self.requests)} requests arrived, expected {count}")
        return self.requests

    def close(self) -> None:
        self.stopping.set()
        self._wake_w.send(b"x")
        for connection in self.connections:
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=10)
        self._listener.close()
        self._wake_r.close()
        self._wake_w.close()


@contextlib.contextmanager
def fault_target(behaviour: Behaviour) -> Iterator[FaultTarget]:
    target = FaultTarget(behaviour)
    try:
        yield target
    finally:
        target.close()


# -- the faults -----------------------------------------------------------------------------


def reset_mid_response(connection: Connection, request: Request) -> bool:
    """A status line and part of the headers, then an RST."""
    connection.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/pl")
    connection.reset()
    return False


def close_without_response(connection: Connection, request: Request) -> bool:
    return False  # the request was read; the connection is closed (FIN), nothing sent


def hang(connection: Connection, request: Request) -> bool:
    """Never answer; hold the connection until the emulator gives up on it."""
    connection.wait_closed(None)
    return False


def drip(response: bytes) -> Behaviour:
    """Send `response` one byte a second (of real time), until the emulator hangs up."""

    def behaviour(connection: Connection, request: Request) -> bool:
        for index in range(len(response)):
            if not connection.send(response[index : index + 1]) or connection.wait_closed(1.0):
                return False
        return False

    return behaviour


DRIP_STATUS = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"  # never a whole status line
DRIP_BODY = b"ok" * 50  # sent after complete 200 headers saying 100 bytes follow


def drip_body(connection: Connection, request: Request) -> bool:
    headers = f"HTTP/1.1 200 OK\r\nContent-Length: {len(DRIP_BODY)}\r\n\r\n".encode()
    return connection.send(headers) and drip(DRIP_BODY)(connection, request)


def redirect_to_itself(connection: Connection, request: Request) -> bool:
    path = request.line.split()[1]
    return connection.send(
        f"HTTP/1.1 302 Found\r\nLocation: {path}\r\nContent-Length: 0\r\n\r\n".encode()
    )


def big_body(status: int) -> Behaviour:
    """`status` with a 50 MB body, streamed in 64 KiB chunks until done or the peer goes."""

    def behaviour(connection: Connection, request: Request) -> bool:
        reason = "OK" if status == 200 else "Internal Server Error"
        head = f"HTTP/1.1 {status} {reason}\r\nContent-Length: {BIG}\r\n\r\n".encode()
        if not connection.send(head):
            return False
        chunk = b"x" * CHUNK
        while connection.sent - len(head) < BIG:
            left = BIG - (connection.sent - len(head))
            if not connection.send(chunk[:left]):
                return False
        return True

    return behaviour


def answer(response: bytes) -> Behaviour:
    """Send `response` as it is, then close."""

    def behaviour(connection: Connection, request: Request) -> bool:
        connection.send(response)
        return False

    return behaviour


@dataclass(frozen=True)
class Fault:
    behaviour: Behaviour | None  # None: a closed port (nothing listens)
    code: errors.Code  # last_attempt.response_status.code
    responses: int  # response_count added by each try
    requests: int  # requests the target reads in each try
    hangs: bool = False  # the try ends only at the deadline
    status: int | None = None  # the attempt's HTTP status
    error: str = ""  # in the attempt's error


FAULTS = {
    "refused": Fault(None, errors.Code.UNAVAILABLE, 0, 0, error="cannot connect"),
    "reset-mid-response": Fault(reset_mid_response, errors.Code.UNAVAILABLE, 0, 1),
    "closed-without-response": Fault(close_without_response, errors.Code.UNAVAILABLE, 0, 1),
    "hang": Fault(hang, errors.Code.DEADLINE_EXCEEDED, 0, 1, hangs=True, error="within 15s"),
    "drip-status-line": Fault(
        drip(DRIP_STATUS), errors.Code.DEADLINE_EXCEEDED, 0, 1, hangs=True, error="within 15s"
    ),
    "drip-body": Fault(
        drip_body, errors.Code.DEADLINE_EXCEEDED, 0, 1, hangs=True, error="within 15s"
    ),
    # The first request and 10 redirects followed; the 11th 302 is not.
    "redirect-loop": Fault(redirect_to_itself, errors.Code.UNAVAILABLE, 0, 11, error="redirects"),
    "50MB-500": Fault(big_body(500), errors.Code.INTERNAL, 1, 1, status=500),
    # A 200 whose body stops short of its Content-Length is not a success.
    "truncated-200": Fault(
        answer(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"),
        errors.Code.UNAVAILABLE,
        0,
        1,
    ),
    "not-http": Fault(answer(b"hello there\r\n\r\n"), errors.Code.UNAVAILABLE, 0, 1),
    "100KB-header": Fault(
        answer(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 100_000 + b"\r\nContent-Length: 0\r\n\r\n"),
        errors.Code.UNAVAILABLE,
        0,
        1,
    ),
}


@contextlib.contextmanager
def serving(fault: Fault) -> Iterator[tuple[str, FaultTarget | None]]:
    """The fault's URL, and its target (None for a closed port)."""
    if fault.behaviour is None:
        # Bound but not listening: connecting is refused, and the port stays ours.
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            yield f"http://127.0.0.1:{closed.getsockname()[1]}", None
    else:
        with fault_target(fault.behaviour) as target:
            yield target.url, target


def _fixed_backoff_queue(client: Client, queue_id: str) -> tasks_v2.Queue:
    retry = {"min_backoff": duration(BACKOFF), "max_backoff": duration(BACKOFF)}
    return make_queue(client, queue_id, retry_config=retry)


def _create(client: Client, queue: tasks_v2.Queue, task_id: str, url: str) -> tasks_v2.Task:
    return client.create_task(
        parent=queue.name,
        task={
            "name": f"{queue.name}/tasks/{task_id}",
            "http_request": {"url": url},
            "dispatch_deadline": duration(DEADLINE),
        },
    )


def _end_try(emu: Emulator, fault: Fault, target: FaultTarget | None, tries: int) -> None:
    """Wait for try number `tries` of the bad task to start and settle."""
    if target is not None:
        target.wait_for(fault.requests * tries)
    if fault.hangs:
        assert len(emu.wait_for_attempts(tries - 1, task="bad")) == tries - 1  # still in flight
        emu.advance(DEADLINE)  # past its deadline on the emulator's clock
    emu.wait_for_attempts(tries, task="bad")


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS)
def test_a_faulty_target_fails_one_attempt_per_try_and_retries_on_schedule(
    client: Client, emu: Emulator, receiver: Receiver, fault: Fault
) -> None:
    faulty = _fixed_backoff_queue(client, "faulty")
    other = make_queue(client, "other")
    with serving(fault) as (url, target):
        bad = _create(client, faulty, "bad", f"{url}/bad")
        if target is not None:
            target.wait_for(1)  # the bad attempt is on the wire (and, if it hangs, stays)
        # The rest of the queue, and another queue, flow meanwhile.
        _create(client, faulty, "good", f"{receiver.url}/same-queue")
        _create(client, other, "good", f"{receiver.url}/other-queue")
        assert sorted(r["path"] for r in receiver.wait_for(2)) == ["/other-queue", "/same-queue"]
        assert [a.status for a in emu.wait_for_attempts(1, queue="other")] == [200]

        _end_try(emu, fault, target, tries=1)
        (first,) = emu.attempts(task=bad.name)
        assert first.status == fault.status
        assert fault.error in (first.error or ""), first.error
        if fault.hangs:
            assert first.response_time - first.dispatch_time == timedelta(seconds=DEADLINE)
        current = get_full(client, bad.name)
        assert current.dispatch_count == 1
        assert current.response_count == fault.responses
        assert current.last_attempt.response_status.code == fault.code
        assert current.schedule_time == first.response_time + timedelta(seconds=BACKOFF)
        if target is not None:
            assert [r.retry_count for r in target.requests] == [0] * fault.requests

        emu.advance(BACKOFF - 1)
        assert len(emu.attempts(task=bad.name)) == 1  # not retried early
        emu.advance(1)
        _end_try(emu, fault, target, tries=2)
        first, second = emu.attempts(task=bad.name)
        assert second.attempt == 2
        assert second.schedule_time == first.response_time + timedelta(seconds=BACKOFF)
        current = get_full(client, bad.name)
        assert current.dispatch_count == 2
        assert current.response_count == 2 * fault.responses
        assert current.last_attempt.response_status.code == fault.code
        if target is not None:
            retries = [r.retry_count for r in target.requests]
            assert retries == [0] * fault.requests + [1] * fault.requests
    assert len(emu.attempts(queue="faulty")) == 3  # the two tries and the good task


@pytest.mark.parametrize("fault", ["hang", "drip-status-line", "drip-body"])
def test_a_timed_out_attempt_closes_its_connection(
    client: Client, emu: Emulator, fault: str
) -> None:
    with fault_target(FAULTS[fault].behaviour or hang) as target:
        queue = _fixed_backoff_queue(client, "faulty")
        _create(client, queue, "bad", f"{target.url}/bad")
        target.wait_for(1)
        (connection,) = target.connections
        assert not connection.peer_closed.is_set()
        emu.advance(DEADLINE)
        emu.wait_for_attempts(1, task="bad")
        # The emulator hangs up at the deadline: no socket is left behind per timeout.
        assert connection.peer_closed.wait(5)
        if fault.startswith("drip"):
            assert connection.sent < len(DRIP_STATUS) + len(DRIP_BODY) + 40  # far from done


def test_a_50mb_200_answer_succeeds_without_being_read(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    with fault_target(big_body(200)) as target:
        queue = _fixed_backoff_queue(client, "big")
        task = _create(client, queue, "big", f"{target.url}/big")
        _create(client, queue, "good", receiver.url)
        (attempt,) = emu.wait_for_attempts(1, task=task.name)
        assert attempt.status == 200
        assert attempt.error is None
        with pytest.raises(exceptions.NotFound):  # succeeded: deleted
            client.get_task(name=task.name)
        receiver.wait_for(1)
        (connection,) = target.connections
        # The emulator closed the connection long before 50 MB were sent: what it took is
        # what the socket buffers hold, so its memory does not follow the answer's size.
        assert connection.peer_closed.wait(10)
        assert connection.sent < BIG_BOUND, connection.sent
    assert len(target.requests) == 1


def test_a_timed_out_attempt_frees_its_concurrency_slot(
    client: Client, emu: Emulator, receiver: Receiver
) -> None:
    with fault_target(hang) as target:
        queue = _fixed_backoff_queue(client, "single")
        client.update_queue(
            queue={"name": queue.name, "rate_limits": {"max_concurrent_dispatches": 1}},
            update_mask=field_mask_pb2.FieldMask(paths=["rate_limits.max_concurrent_dispatches"]),
        )
        _create(client, queue, "bad", f"{target.url}/bad")
        target.wait_for(1)
        good = _create(client, queue, "good", receiver.url)
        # Everything that can happen short of the deadline has happened when this returns;
        # the one slot is taken, so the good task waits.
        emu.advance(DEADLINE - 1)
        assert receiver.requests == []
        assert get_full(client, good.name).dispatch_count == 0
        emu.advance(1)  # the hanging attempt times out and frees the slot
        receiver.wait_for(1)
        assert [a.task for a in emu.wait_for_attempts(2)] == ["bad", "good"]
        assert emu.attempts(task="good")[0].status == 200


@pytest.mark.parametrize(
    "retry_after",
    ["99999999999999999999999", "1000000000000", "\u00b2"],
    ids=["beyond-c-int", "beyond-year-9999", "superscript-two"],
)
def test_an_unusable_retry_after_does_not_strand_the_task(
    client: Client, emu: Emulator, retry_after: str
) -> None:
    response = (
        f"HTTP/1.1 503 Service Unavailable\r\nRetry-After: {retry_after}\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    with fault_target(answer(response.encode())) as target:
        queue = _fixed_backoff_queue(client, "faulty")
        task = _create(client, queue, "bad", f"{target.url}/bad")
        (first,) = emu.wait_for_attempts(1, task=task.name)
        emu.wait_until_idle()
        assert first.status == 503
        current = get_full(client, task.name)
        assert current.response_count == 1
        assert current.last_attempt.response_status.code == errors.Code.UNAVAILABLE
        # Retried no sooner than the backoff (Retry-After never shortens it), and not before
        # the failure: a task due in the past that no scheduler holds is lost.
        assert current.schedule_time >= first.response_time + timedelta(seconds=BACKOFF)
