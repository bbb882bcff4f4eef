"""Fixtures of the browser tests: headless Chromium (Debian's ``chromium``, driven by
Playwright), the API on uvicorn on loopback over a temporary data folder with a bootstrapped
project and its keys, and a second origin on loopback that serves test pages.

* ``browser`` (session): Chromium, launched once; ``context`` and ``page`` are fresh per test
  (their own storage and cookies). A page's uncaught exceptions fail the test.
* ``live_api``: the app of ``tests/conftest.py`` (its settings, catalog, ``keys``) served on
  127.0.0.1 by :func:`tests.adapters.live_server.serve`, which records every request and
  reads the lake back (``live_api.events(project_id)``).
* ``site``: another origin (another port on 127.0.0.1) serving pages a test adds, so that
  the browser calls the API across origins, as on a customer's site.

Chromium is ``/usr/bin/chromium`` (``GROWTHOS_CHROMIUM`` overrides it); without it the tests
that need it are skipped, except in CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.adapters.live_server import LiveServer, serve

CHROMIUM = os.environ.get("GROWTHOS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Where the screenshots for the docs go when set (``GROWTHOS_SCREENSHOT_DIR=docs/img``).
SCREENSHOTS = os.environ.get("GROWTHOS_SCREENSHOT_DIR")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium; skipped without it (failed in CI)."""
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="package")
def playwright_driver() -> Iterator[Playwright]:
    """Playwright's sync API keeps an event loop running in the main thread while it is open:
    scoped to this package, so that it is closed before tests elsewhere call ``asyncio.run``."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright_driver: Playwright, chromium_path: str) -> Iterator[Browser]:
    chromium = playwright_driver.chromium.launch(
        executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True
    )
    yield chromium
    chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile: its own localStorage, cookies and cache."""
    ctx = browser.new_context(
        viewport={"width": 900, "height": 700}, locale="en-US", timezone_id="UTC"
    )
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A tab; an uncaught exception in it fails the test."""
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture
def live_api(app: Any, settings: Any, keys: dict[str, str]) -> Iterator[LiveServer]:
    """The API on 127.0.0.1 (a free port), on the test's data folder, with ``keys``'
    project bootstrapped."""
    with serve(app, settings) as server:
        yield server


@dataclass
class Site:
    """Pages on an origin of their own: ``site.add("/p.html", html)``, then
    ``page.goto(site.url + "/p.html")``."""

    url: str
    pages: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    def add(self, path: str, body: str, content_type: str = "text/html; charset=utf-8") -> str:
        self.pages[path] = (content_type, body.encode())
        return self.url + path


@pytest.fixture
def site() -> Iterator[Site]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    pages = Site(f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = pages.pages.get(self.path.split("?", 1)[0])
            if found is None:
                self.send_error(404)
                return
            content_type, body = found
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield pages
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def screenshot_path(name: str, tmp_path: Path) -> Path:
    """Where a screenshot named ``name`` goes: the docs' folder when
    ``GROWTHOS_SCREENSHOT_DIR`` is set, else the test's temporary folder."""
    folder = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.png"
