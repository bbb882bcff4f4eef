"""Shared fixtures: settings on a temporary data folder, the app, a bootstrapped project, and
the control-plane catalog on SQLite and on the PostgreSQL server of this machine."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.orgs import bootstrap
from growthos_pipeline.settings import Settings

PG_ADMIN_DSN = os.environ.get("GROWTHOS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("GROWTHOS_TEST_REDIS", "redis://127.0.0.1:6379/0")

MakeSettings = Callable[..., Settings]


@pytest.fixture
def make_settings(tmp_path: Path) -> MakeSettings:
    """Settings on a fresh data folder; keyword arguments override fields."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "env": "test",
            "data_dir": tmp_path / "data",
            "secret_key": "test-secret-" + "x" * 40,
            "rate_limits_enabled": False,
            # The webhook worker polls the catalog every second; tests that deliver webhooks
            # turn it on (tests/api/test_webhooks.py), the others would see its queries.
            "webhooks_worker_enabled": False,
            # In-process apps flush from a thread: a child process per app would add a second
            # to every test. The child process (the default) is tested through `growthos
            # serve` (tests/ingest/server.py) and in tests/ingest/test_committer.py.
            "flusher_process": False,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings()


@pytest.fixture
def catalog(settings: Settings) -> Iterator[Catalog]:
    catalog = Catalog.open(settings)
    yield catalog
    catalog.dispose()


@pytest.fixture
def app(settings: Settings, catalog: Catalog) -> Any:
    return create_app(settings, catalog=catalog)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def keys(catalog: Catalog, settings: Settings) -> dict[str, str]:
    """A bootstrapped org "Acme" with project "Web": ids and raw keys."""
    return bootstrap(catalog, settings, org_name="Acme", project_name="Web")


@pytest.fixture
def other_keys(catalog: Catalog, settings: Settings) -> dict[str, str]:
    """Another tenant: org "Globex" with project "Shop"."""
    return bootstrap(catalog, settings, org_name="Globex", project_name="Shop")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (dropped at the end)."""
    name = f"growthos_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate_pg(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ]
        if tables:
            conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def any_settings(request: pytest.FixtureRequest, make_settings: MakeSettings) -> Settings:
    """Settings on SQLite and on PostgreSQL: catalog tests run on both."""
    if request.param == "sqlite":
        return make_settings()
    url = request.getfixturevalue("pg_database")
    Catalog.open(make_settings(database_url=url)).dispose()
    _truncate_pg(url)
    return make_settings(database_url=url)


@pytest.fixture
def any_catalog(any_settings: Settings) -> Iterator[Catalog]:
    catalog = Catalog.open(any_settings)
    yield catalog
    catalog.dispose()


def auth(key: str) -> dict[str, str]:
    return {"X-API-Key": key}
