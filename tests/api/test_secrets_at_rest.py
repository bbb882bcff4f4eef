"""Secrets are stored only as keyed hashes: a dump of the catalog holds no raw key."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
from fastapi.testclient import TestClient

from api.app import create_app
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.orgs import bootstrap
from growthos_pipeline.settings import Settings
from tests.conftest import auth


def _make_secrets(client: TestClient, boot: dict[str, str]) -> list[str]:
    found = [boot["admin_key"], boot["secret_key"], boot["public_key"]]
    admin = auth(boot["admin_key"])
    created = client.post(
        "/v1/admin/projects", json={"name": "App"}, headers={**admin, "Idempotency-Key": "mk-app"}
    )
    assert created.status_code == 201
    found += [created.json()["secret_key"], created.json()["public_key"]]
    replay = client.post(
        "/v1/admin/projects", json={"name": "App"}, headers={**admin, "Idempotency-Key": "mk-app"}
    )
    assert replay.json()["secret_key"] == created.json()["secret_key"]
    token = client.post(
        f"/v1/projects/{boot['project_id']}/tokens",
        json={"name": "ci", "scopes": ["query", "track"]},
        headers={**auth(boot["secret_key"]), "Idempotency-Key": "tok"},
    )
    assert token.status_code == 201
    found.append(token.json()["token"])
    rotated = client.post(
        f"/v1/projects/{boot['project_id']}/rotate-secret-key", headers=auth(boot["secret_key"])
    )
    found.append(rotated.json()["secret_key"])
    new_admin = client.post("/v1/admin/rotate-key", headers=admin)
    found.append(new_admin.json()["admin_key"])
    return found


def _assert_absent(dump: bytes, secrets: list[str]) -> None:
    for secret in secrets:
        body = secret.split("_", 1)[1]
        assert secret.encode() not in dump, secret
        assert body[:16].encode() not in dump, secret  # not even the random part
        assert body[-22:].encode() not in dump, secret


def test_sqlite_catalog_holds_no_raw_key(settings: Settings, catalog: Catalog) -> None:
    boot = bootstrap(catalog, settings, org_name="Acme", project_name="Web")
    with TestClient(create_app(settings, catalog=catalog)) as client:
        secrets = _make_secrets(client, boot)
    catalog.dispose()
    db = Path(settings.data_dir) / "catalog.db"
    raw_files = b"".join(p.read_bytes() for p in db.parent.glob("catalog.db*"))
    with sqlite3.connect(db) as conn:
        text_dump = "\n".join(conn.iterdump()).encode()
    assert b"api_keys" in text_dump and len(text_dump) > 1000
    _assert_absent(raw_files + text_dump, secrets)


def test_postgresql_catalog_holds_no_raw_key(make_settings, pg_database: str) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(database_url=pg_database)
    catalog = Catalog.open(settings)
    with catalog.begin() as conn:
        conn.exec_driver_sql("TRUNCATE orgs, users, idempotency_keys, audit_log CASCADE")
    boot = bootstrap(catalog, settings, org_name="Acme", project_name="Web")
    with TestClient(create_app(settings, catalog=catalog)) as client:
        secrets = _make_secrets(client, boot)
    catalog.dispose()
    dump = []
    with psycopg.connect(pg_database) as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        for table in tables:
            for (row,) in conn.execute(f'SELECT row_to_json(t)::text FROM "{table}" t'):
                dump.append(row)
            for (row,) in conn.execute(
                f"SELECT encode(response, 'escape') FROM \"{table}\" WHERE response IS NOT NULL"
                if table == "idempotency_keys"
                else "SELECT NULL WHERE false"
            ):
                dump.append(row)
    joined = "\n".join(dump).encode()
    assert b"key_hash" in joined
    _assert_absent(joined, secrets)
