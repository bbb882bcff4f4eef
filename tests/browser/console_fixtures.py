"""Fixtures of the console's browser tests: a GitHub stand-in and the API on loopback, and a
signed-in owner's org with a project full of demo events.

The provider is the one of ``tests/api/test_oauth_login.py`` (GitHub's OAuth dialect,
auto-approving). The API runs on uvicorn on 127.0.0.1; Chromium (the ``browser`` fixture of
``conftest.py``: Debian's ``chromium`` driven by Playwright) signs in through both, as a
person's browser would.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest

from api.app import create_app
from growthos_pipeline import demo
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.ingest.accept import Ingestor
from growthos_pipeline.settings import Settings
from tests.api.test_oauth_login import (
    CLIENT_ID,
    CLIENT_SECRET,
    FakeGitHub,
    RunningApi,
    _listening_socket,
    _serve,
    _url,
    signed_in,
)
from tests.conftest import MakeSettings

#: Where the screenshots for the docs go when set (e.g. ``docs/img``); else the test's tmp dir.
SCREENSHOT_DIR = os.environ.get("GROWTHOS_SCREENSHOT_DIR")


@dataclass
class ConsoleWorld:
    """The API on loopback, wired to the provider, with one owner's data."""

    url: str
    settings: Settings
    org_id: str
    project_id: str
    empty_project_id: str
    secret_key: str
    start: datetime  # the demo events' time span, to the minute
    end: datetime


@pytest.fixture(scope="module")
def github_provider() -> Iterator[tuple[FakeGitHub, str]]:
    provider = FakeGitHub()
    sock = _listening_socket()
    with _serve(provider.app, sock):
        yield provider, _url(sock)


@pytest.fixture
def console_world(
    github_provider: tuple[FakeGitHub, str], make_settings: MakeSettings
) -> Iterator[ConsoleWorld]:
    """The API with sign-in on; ``octocat`` owns org "Boardly" with a project "web" holding a
    few days of demo events, and an empty project "staging"."""
    provider, provider_url = github_provider
    sock = _listening_socket()
    url = _url(sock)
    settings = make_settings(
        public_url=url,
        github_client_id=CLIENT_ID,
        github_client_secret=CLIENT_SECRET,
        github_authorize_url=f"{provider_url}/login/oauth/authorize",
        github_token_url=f"{provider_url}/login/oauth/access_token",
        github_api_url=provider_url,
    )
    provider.register(CLIENT_ID, CLIENT_SECRET, f"{url}/v1/auth/github/callback")
    catalog = Catalog.open(settings)
    try:
        with _serve(create_app(settings, catalog=catalog), sock):
            with httpx2.Client(follow_redirects=False, timeout=10.0) as owner:
                signed_in(owner, RunningApi(url, settings, provider))
                org = owner.post(f"{url}/v1/orgs", json={"name": "Boardly"})
                assert org.status_code == 201, org.text
                org_id = org.json()["id"]
                projects = f"{url}/v1/orgs/{org_id}/projects"
                web = owner.post(projects, json={"name": "web"})
                assert web.status_code == 201, web.text
                staging = owner.post(projects, json={"name": "staging"})
                assert staging.status_code == 201, staging.text
            end = datetime.now(UTC).replace(second=0, microsecond=0)
            days = 5
            _load_demo(settings, web.json()["id"], users=60, days=days, end=end)
            yield ConsoleWorld(
                url=url,
                settings=settings,
                org_id=org_id,
                project_id=web.json()["id"],
                empty_project_id=staging.json()["id"],
                secret_key=web.json()["secret_key"],
                start=end - timedelta(days=days),
                end=end,
            )
    finally:
        catalog.dispose()


def _load_demo(
    settings: Settings, project_id: str, *, users: int, days: int, end: datetime
) -> None:
    """Demo events through the ingest path into the lake (the server runs no flusher)."""
    calls = demo.generate(users=users, days=days, seed=11, end=end)
    ingestor = Ingestor(settings)
    ingestor.start()
    try:
        summary = demo.load(ingestor, project_id, calls)
        assert summary.accepted > 0
        ingestor.flush_now()
    finally:
        ingestor.stop()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    """A page in a fresh browser context (its own cookies and storage); ``new_page(**opts)``
    passes context options such as ``java_script_enabled``."""
    contexts: list[Any] = []
    console_messages: list[str] = []

    def new(**options: Any) -> Any:
        context = browser.new_context(
            viewport={"width": 1200, "height": 900}, locale="en-US", timezone_id="UTC", **options
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        # A Content-Security-Policy violation or a script error shows up here.
        page.on(
            "console",
            lambda message: (
                console_messages.append(message.text) if message.type == "error" else None
            ),
        )
        page.on("pageerror", lambda error: console_messages.append(str(error)))
        return page

    yield new
    for context in contexts:
        context.close()
    unexpected = [m for m in console_messages if "status of 40" not in m]
    assert not unexpected, f"errors in the browser console: {unexpected}"


def screenshot_path(tmp_path: Path, name: str) -> Path:
    """``docs/img/<name>`` when GROWTHOS_SCREENSHOT_DIR is set, else a file under tmp_path."""
    folder = Path(SCREENSHOT_DIR) if SCREENSHOT_DIR else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name
