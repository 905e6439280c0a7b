"""The production-parity example without Docker: the same producer, worker and route as
docker-compose.yml, with the emulator in the test's process (`Emulator(routes=...)`)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp import web
from cloud_run_worker import ACCEPTED, SERVICE_URL, make_app
from enqueue import INVOKER, check, enqueue_both

from emulator import Emulator


@pytest.fixture
def emulator_and_worker_port() -> Iterator[tuple[Emulator, int]]:
    """The emulator routing the production URLs to a port kept for the worker."""
    with socket.socket() as probe:  # a free port for the worker, named before it runs
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    route = f"https://*-uc.a.run.app=http://127.0.0.1:{port};invoker={INVOKER}"
    queue = {"name": "emails", "retry_config": {"min_backoff": "0.1s", "max_attempts": 5}}
    with Emulator(project="my-project", queues=[queue], routes=[route]) as emulator:
        yield emulator, port


@pytest.fixture
async def worker(emulator_and_worker_port: tuple[Emulator, int]) -> AsyncIterator[web.Application]:
    emulator, port = emulator_and_worker_port
    app = make_app(SERVICE_URL, f"{emulator.http_url}/.well-known/jwks.json")
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield app
    await runner.cleanup()


async def test_production_urls_and_audiences_work_unchanged(
    emulator_and_worker_port: tuple[Emulator, int], worker: web.Application
) -> None:
    emulator, _ = emulator_and_worker_port
    good, refused = enqueue_both(emulator.client())
    assert await asyncio.to_thread(check, emulator.http_url, good, refused) == []
    (accepted,) = worker[ACCEPTED]
    assert accepted["host"] == "worker-xyz-uc.a.run.app"
    assert accepted["path"] == "/tasks/email"
    assert accepted["email"] == INVOKER
    assert accepted["task"] == good.rsplit("/", 1)[1]
