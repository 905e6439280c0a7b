"""The dashboard in a real browser: headless Chromium from Debian's `chromium` package,
driven by Playwright (the Python package; no browser is downloaded).

Pages are opened on the session's emulator, changed through the real client, and every
wait is Playwright's own (`expect(...)` retries until the page shows what it must, or
fails after its timeout). Each test saves screenshots of the pages it saw, light and
dark, under build/screenshots/ (CI keeps them).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from emulator import Emulator

from support import Client

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As a sandboxed CI machine needs them: no network of its own, no GPU, no first-run work.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"

expect.set_options(timeout=10_000)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module-scoped: Playwright's sync API holds an event loop on this thread while it
    # runs, which the asyncio tests elsewhere must not find there.
    if not Path(CHROMIUM).exists():
        pytest.fail(
            "the dashboard tests need Debian's Chromium: apt-get install chromium "
            "(.ci/run installs it)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(params=["light", "dark"])
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A laptop-sized page in the light or the dark colour scheme; a dialog (confirm) is
    accepted, and an error in the page's script fails the test."""
    context = browser.new_context(
        viewport={"width": 1366, "height": 800}, color_scheme=request.param
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: dialog.accept())
    yield page
    context.close()
    assert errors == []


@pytest.fixture
def client(emu: Emulator) -> Client:
    return emu.client()


@pytest.fixture
def shoot(page: Page, request: pytest.FixtureRequest) -> Callable[[str], None]:
    """`shoot(name)` saves a full-page screenshot, named after the test and the scheme."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    scheme = request.node.callspec.params["page"]

    def save(name: str) -> None:
        page.screenshot(path=SCREENSHOTS / f"{name}-{scheme}.png", full_page=True)

    return save
