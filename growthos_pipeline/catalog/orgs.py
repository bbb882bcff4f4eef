"""Organisations: creation (with their first admin key), bootstrap, admin-key rotation.

Examples
--------
>>> import tempfile
>>> from growthos_pipeline.catalog.database import Catalog
>>> settings = Settings(data_dir=tempfile.mkdtemp())
>>> catalog = Catalog.open(settings)
>>> first = bootstrap(catalog, settings, org_name="Acme", project_name="Web")
>>> again = bootstrap(catalog, settings, org_name="Acme", project_name="Web")
>>> (first["org_id"], first["project_id"]) == (again["org_id"], again["project_id"])
True
>>> first["public_key"] == again["public_key"], first["secret_key"] == again["secret_key"]
(True, False)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from growthos_pipeline.catalog import audit, keys
from growthos_pipeline.catalog.access import Principal, require_admin_kind, require_org_admin
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.models import OrgCreate, ProjectCreate
from growthos_pipeline.catalog.pagination import Page, paginate
from growthos_pipeline.catalog.projects import insert_project, public_key_for
from growthos_pipeline.catalog.tables import api_keys, memberships, orgs, projects, utcnow
from growthos_pipeline.errors import Conflict, NotFound
from growthos_pipeline.ids import new_id
from growthos_pipeline.settings import Settings


def org_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "plan": row["plan"],
        "created_at": row["created_at"],
    }


def _insert_org(conn: Connection, settings: Settings, name: str) -> tuple[dict[str, Any], str]:
    org_id = new_id("org")
    row: dict[str, Any] = {"id": org_id, "name": name, "plan": "free", "created_at": utcnow()}
    conn.execute(insert(orgs).values(**row))
    admin_key, _ = keys.issue(conn, settings, "admin", org_id=org_id, project_id=None, name="admin")
    return row, admin_key


def create_org(
    catalog: Catalog,
    settings: Settings,
    body: OrgCreate,
    *,
    owner: Principal | None = None,
) -> dict[str, Any]:
    """A new organisation and its admin key (shown this once); the owner becomes a member."""
    try:
        with catalog.begin() as conn:
            row, admin_key = _insert_org(conn, settings, body.name)
            if owner is not None and owner.user_id:
                conn.execute(
                    insert(memberships).values(
                        org_id=row["id"],
                        user_id=owner.user_id,
                        role="owner",
                        created_at=utcnow(),
                    )
                )
            audit.record(conn, owner, "org.create", org_id=row["id"], target=row["id"])
    except IntegrityError:
        raise Conflict("org_exists", f"an organisation named '{body.name}' exists") from None
    return {**org_view(row), "admin_key": admin_key}


def get_org(catalog: Catalog, principal: Principal, org_id: str | None = None) -> dict[str, Any]:
    org = require_org_admin(principal, org_id)
    with catalog.connect() as conn:
        row = conn.execute(select(orgs).where(orgs.c.id == org)).mappings().first()
    if row is None:
        raise NotFound("org_not_found", f"no organisation '{org}'")
    return org_view(dict(row))


def list_orgs(
    catalog: Catalog, principal: Principal, *, cursor: str | None = None, limit: int = 25
) -> Page[dict[str, Any]]:
    """The organisations the caller administers (org admin keys and people signed in only)."""
    require_admin_kind(principal)
    with catalog.connect() as conn:
        query = select(orgs).where(orgs.c.id.in_(sorted(principal.admin_org_ids)))
        return paginate(conn, query, orgs.c.id, cursor=cursor, limit=limit, convert=org_view)


def rotate_admin_key(
    catalog: Catalog, settings: Settings, principal: Principal, org_id: str | None = None
) -> dict[str, Any]:
    """Revoke every admin key of the org and issue a new one (shown this once)."""
    org = require_org_admin(principal, org_id)
    with catalog.begin() as conn:
        revoked = keys.revoke(conn, api_keys.c.org_id == org, api_keys.c.kind == "admin")
        admin_key, row = keys.issue(
            conn, settings, "admin", org_id=org, project_id=None, name="admin"
        )
        audit.record(
            conn,
            principal,
            "org.rotate_admin_key",
            org_id=org,
            target=row["id"],
            details={"revoked": revoked},
        )
    return {"org_id": org, "admin_key": admin_key, "revoked": revoked}


def bootstrap(
    catalog: Catalog, settings: Settings, *, org_name: str, project_name: str
) -> dict[str, str]:
    """Create the org and project if they do not exist (by name), and hand out keys.

    Idempotent by name: a second run finds the same org and project. The project's public key
    is derived from the server secret, so it is the same on every run; a new admin key and a
    new secret key are issued on every run (raw secrets are never stored, so earlier ones
    cannot be shown again), and the earlier ones stay valid until rotated.
    """
    org_body = OrgCreate(name=org_name)
    project_body = ProjectCreate(name=project_name)
    with catalog.begin() as conn:
        org = conn.execute(select(orgs).where(orgs.c.name == org_body.name)).mappings().first()
        if org is None:
            org_row, admin_key = _insert_org(conn, settings, org_body.name)
            org_id = org_row["id"]
            audit.record(
                conn, None, "org.create", org_id=org_id, target=org_id, actor="cli:bootstrap"
            )
        else:
            org_id = str(org["id"])
            admin_key, _ = keys.issue(
                conn, settings, "admin", org_id=org_id, project_id=None, name="bootstrap"
            )
        project = (
            conn.execute(
                select(projects).where(
                    projects.c.org_id == org_id, projects.c.name == project_body.name
                )
            )
            .mappings()
            .first()
        )
        if project is None:
            created = insert_project(conn, settings, org_id, project_body)
            project_id = created["project"]["id"]
            secret_key = created["secret_key"]
            audit.record(
                conn,
                None,
                "project.create",
                org_id=org_id,
                project_id=project_id,
                target=project_id,
                actor="cli:bootstrap",
            )
        else:
            project_id = str(project["id"])
            secret_key, _ = keys.issue(
                conn, settings, "secret", org_id=org_id, project_id=project_id, name="bootstrap"
            )
        public_key = public_key_for(conn, settings, org_id, project_id)
    return {
        "org_id": org_id,
        "project_id": project_id,
        "admin_key": admin_key,
        "public_key": public_key,
        "secret_key": secret_key,
    }
