"""The dashboard in a real browser: headless Chromium driven by Playwright (the Python
package). The browser is Debian's `chromium` (or another on the PATH), else Playwright's
own after `playwright install chromium`; without either the tests are skipped with one
line saying so (and fail where CLOUD_TASKS_EMULATOR_REQUIRE_TOOLS is set, as in CI).

Pages are opened on the session's emulator, changed through the real client, and every
wait is Playwright's own (`expect(...)` retries until the page shows what it must, or
fails after its timeout). Each test saves screenshots of the pages it saw, light and
dark, on two laptop screens (1400x900 and 1000x800), under build/screenshots/ (CI keeps
them); at each size `shoot` also checks the layout a laptop screen needs (see LAYOUT).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from emulator import Emulator

from support import Client, find_chromium

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
SIZES = [(1400, 900), (1000, 800)]  # laptop screens: the page's own size first

# What a laptop screen must show (see layout.js), checked in the page at each size.
LAYOUT = (Path(__file__).parent / "layout.js").read_text()

expect.set_options(timeout=10_000)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module-scoped: Playwright's sync API holds an event loop on this thread while it
    # runs, which the asyncio tests elsewhere must not find there.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=find_chromium(), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(params=["light", "dark"])
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A laptop-sized page in the light or the dark colour scheme; a dialog (confirm) is
    accepted, and an error in the page's script fails the test."""
    width, height = SIZES[0]
    context = browser.new_context(
        viewport={"width": width, "height": height}, color_scheme=request.param
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


def layout_problems(page: Page) -> list[str]:
    """What LAYOUT finds wrong in the page as it is now (empty: nothing)."""
    problems: list[str] = page.evaluate(LAYOUT)
    return problems


@pytest.fixture
def shoot(page: Page, request: pytest.FixtureRequest) -> Callable[[str], None]:
    """`shoot(name)` saves full-page screenshots at each size in SIZES, named after the
    page, the size and the scheme, and fails on what LAYOUT finds wrong at any of them."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    scheme = request.node.callspec.params["page"]

    def save(name: str) -> None:
        found = []
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            page.evaluate("window.scrollTo(0, 0)")
            found += [f"{width}x{height}: {p}" for p in layout_problems(page)]
            path = SCREENSHOTS / f"{name}-{width}x{height}-{scheme}.png"
            page.screenshot(path=path, full_page=True)
        width, height = SIZES[0]
        page.set_viewport_size({"width": width, "height": height})
        assert found == [], f"{name} ({scheme}): " + "; ".join(found)

    return save
