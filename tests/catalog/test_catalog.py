"""The control plane on SQLite and on PostgreSQL: every test here runs on both."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from growthos_pipeline.catalog import idempotency, keys, orgs, projects, tokens
from growthos_pipeline.catalog.access import Principal
from growthos_pipeline.catalog.audit import list_org_audit
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.models import (
    OrgCreate,
    ProjectCreate,
    ProjectDelete,
    ProjectSettingsUpdate,
    TokenCreate,
)
from growthos_pipeline.catalog.tables import api_keys, utcnow
from growthos_pipeline.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from growthos_pipeline.settings import Settings


def admin(catalog: Catalog, settings: Settings, raw: str) -> Principal:
    return keys.authenticate(catalog, settings, raw)


def test_migrations_reach_head(any_catalog: Catalog) -> None:
    assert any_catalog.current_revision() == any_catalog.head_revision()
    any_catalog.migrate()  # a second run is a no-op
    assert any_catalog.is_current()


def test_sqlite_runs_in_wal_mode_with_full_sync(catalog: Catalog) -> None:
    with catalog.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_bootstrap_is_idempotent_by_name(any_catalog: Catalog, any_settings: Settings) -> None:
    first = orgs.bootstrap(any_catalog, any_settings, org_name="Acme", project_name="Web")
    second = orgs.bootstrap(any_catalog, any_settings, org_name="Acme", project_name="Web")
    assert first["org_id"] == second["org_id"]
    assert first["project_id"] == second["project_id"]
    assert first["public_key"] == second["public_key"]
    for raw in (first["secret_key"], second["secret_key"], first["admin_key"]):
        assert keys.authenticate(any_catalog, any_settings, raw).org_id == first["org_id"]
    page = projects.list_projects(
        any_catalog, admin(any_catalog, any_settings, first["admin_key"]), limit=10
    )
    assert [p["name"] for p in page.data] == ["Web"]


def test_project_lifecycle(any_catalog: Catalog, any_settings: Settings) -> None:
    boot = orgs.bootstrap(any_catalog, any_settings, org_name="Acme", project_name="Web")
    ak = admin(any_catalog, any_settings, boot["admin_key"])
    created = projects.create_project(
        any_catalog,
        any_settings,
        ak,
        ProjectCreate(
            name="App", timezone="Europe/Berlin", allowed_origins=["https://app.example.com/"]
        ),
    )
    assert created["timezone"] == "Europe/Berlin"
    assert created["allowed_origins"] == ["https://app.example.com"]
    with pytest.raises(Conflict) as dup:
        projects.create_project(any_catalog, any_settings, ak, ProjectCreate(name="App"))
    assert dup.value.code == "project_exists"

    sk = keys.authenticate(any_catalog, any_settings, created["secret_key"])
    updated = projects.update_settings(
        any_catalog, sk, created["id"], ProjectSettingsUpdate(retention_days=90)
    )
    assert updated["retention_days"] == 90
    with pytest.raises(Forbidden) as plan:
        projects.update_settings(
            any_catalog, sk, created["id"], ProjectSettingsUpdate(plan="scale")
        )
    assert plan.value.code == "admin_key_required"
    assert (
        projects.update_settings(
            any_catalog, ak, created["id"], ProjectSettingsUpdate(plan="scale")
        )["plan"]
        == "scale"
    )

    rotated = projects.rotate_secret_key(any_catalog, any_settings, ak, created["id"])
    with pytest.raises(Unauthorized) as old:
        keys.authenticate(any_catalog, any_settings, created["secret_key"])
    assert old.value.code == "key_revoked"
    assert keys.authenticate(any_catalog, any_settings, rotated["secret_key"]).kind == "secret"
    assert keys.authenticate(any_catalog, any_settings, created["public_key"]).kind == "public"

    with pytest.raises(BadRequest) as mismatch:
        projects.delete_project(
            any_catalog,
            ak,
            created["id"],
            ProjectDelete(project_name="App", project_name_confirm="app"),
        )
    assert mismatch.value.code == "confirmation_mismatch"
    projects.delete_project(
        any_catalog,
        ak,
        created["id"],
        ProjectDelete(project_name="App", project_name_confirm="App"),
    )
    with pytest.raises(NotFound):
        projects.get_project(any_catalog, ak, created["id"])
    with pytest.raises(Unauthorized):
        keys.authenticate(any_catalog, any_settings, rotated["secret_key"])
    actions = [e["action"] for e in list_org_audit(any_catalog, ak, limit=100).data]
    assert actions[-3:] == [
        "project.update_settings",
        "project.rotate_secret_key",
        "project.delete",
    ]


def test_tokens_expire_and_revoke(any_catalog: Catalog, any_settings: Settings) -> None:
    boot = orgs.bootstrap(any_catalog, any_settings, org_name="Acme", project_name="Web")
    sk = keys.authenticate(any_catalog, any_settings, boot["secret_key"])
    made = tokens.create_token(
        any_catalog,
        any_settings,
        sk,
        boot["project_id"],
        TokenCreate(name="ci", scopes=["query"], expires_in="1h"),
    )
    principal = keys.authenticate(any_catalog, any_settings, made["token"])
    assert principal.kind == "token" and principal.scopes == frozenset({"query"})

    # Expiry: move the expiry into the past, as time would.
    with any_catalog.begin() as conn:
        conn.execute(
            update(api_keys)
            .where(api_keys.c.id == made["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    with pytest.raises(Unauthorized) as expired:
        keys.authenticate(any_catalog, any_settings, made["token"])
    assert expired.value.code == "token_expired"
    assert tokens.get_token(any_catalog, sk, boot["project_id"], made["id"])["status"] == "expired"

    other = tokens.create_token(
        any_catalog, any_settings, sk, boot["project_id"], TokenCreate(name="etl", scopes=["track"])
    )
    tokens.revoke_token(any_catalog, sk, boot["project_id"], other["id"])
    with pytest.raises(Unauthorized) as revoked:
        keys.authenticate(any_catalog, any_settings, other["token"])
    assert revoked.value.code == "key_revoked"

    # A token cannot mint a token (it lacks admin), and no credential grants wider scopes.
    with pytest.raises(Forbidden):
        tokens.create_token(
            any_catalog,
            any_settings,
            principal,
            boot["project_id"],
            TokenCreate(name="wider", scopes=["admin"]),
        )


def test_pagination_walks_every_row_once(any_catalog: Catalog, any_settings: Settings) -> None:
    boot = orgs.bootstrap(any_catalog, any_settings, org_name="Acme", project_name="p00")
    ak = admin(any_catalog, any_settings, boot["admin_key"])
    for i in range(1, 12):
        projects.create_project(any_catalog, any_settings, ak, ProjectCreate(name=f"p{i:02}"))
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = projects.list_projects(any_catalog, ak, cursor=cursor, limit=5)
        pages += 1
        seen += [p["name"] for p in page.data]
        if not page.has_more:
            assert page.next_cursor is None
            break
        cursor = page.next_cursor
    assert pages == 3
    assert seen == [f"p{i:02}" for i in range(12)]
    with pytest.raises(BadRequest):
        projects.list_projects(any_catalog, ak, cursor="not-a-cursor", limit=5)


def test_idempotency_records(any_catalog: Catalog, any_settings: Settings) -> None:
    who, key = "a" * 64, "idem-1"
    assert idempotency.begin(any_catalog, any_settings, who, key, "f1") is None
    with pytest.raises(Conflict) as running:
        idempotency.begin(any_catalog, any_settings, who, key, "f1")
    assert running.value.code == "idempotency_request_in_progress"
    stored = idempotency.StoredResponse(
        201, [("content-type", "application/json")], b'{"secret_key": "sk_shown_once"}'
    )
    idempotency.complete(any_catalog, any_settings, who, key, stored)
    assert idempotency.begin(any_catalog, any_settings, who, key, "f1") == stored
    with pytest.raises(Conflict) as reused:
        idempotency.begin(any_catalog, any_settings, who, key, "f2")
    assert reused.value.code == "idempotency_key_reused"
    # The stored body is encrypted at rest.
    from growthos_pipeline.catalog.tables import idempotency_keys

    with any_catalog.connect() as conn:
        blob = conn.execute(select(idempotency_keys.c.response)).scalar_one()
    assert b"sk_shown_once" not in bytes(blob)
    # Another caller with the same key is independent.
    assert idempotency.begin(any_catalog, any_settings, "b" * 64, key, "f2") is None


def test_org_names_are_unique(any_catalog: Catalog, any_settings: Settings) -> None:
    orgs.create_org(any_catalog, any_settings, OrgCreate(name="Initech"))
    with pytest.raises(Conflict):
        orgs.create_org(any_catalog, any_settings, OrgCreate(name="Initech"))
