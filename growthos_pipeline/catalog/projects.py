"""Projects: create, list, read, settings, secret-key rotation, deletion.

A project has one public key (``pk_``, ingest only, derived from the server secret so that it
is stable) and secret keys (``sk_``: track, query, admin). Deleting a project needs its name
typed twice and removes everything the catalog holds for it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from growthos_pipeline.catalog import audit, credentials, keys
from growthos_pipeline.catalog.access import Principal, require_org_admin, require_project
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.models import ProjectCreate, ProjectDelete, ProjectSettingsUpdate
from growthos_pipeline.catalog.pagination import Page, paginate
from growthos_pipeline.catalog.tables import api_keys, projects, utcnow
from growthos_pipeline.errors import BadRequest, Conflict, Forbidden
from growthos_pipeline.ids import new_id
from growthos_pipeline.settings import Settings


def project_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "org_id": row["org_id"],
        "name": row["name"],
        "plan": row["plan"],
        "retention_days": row["retention_days"],
        "timezone": row["timezone"],
        "allowed_origins": list(row["allowed_origins"] or []),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def public_key_for(conn: Connection, settings: Settings, org_id: str, project_id: str) -> str:
    """The project's public key (derived, so the same every time it is asked for)."""
    raw = credentials.derive("public", settings.server_secret(), project_id)
    keys.issue(
        conn, settings, "public", org_id=org_id, project_id=project_id, name="public", raw=raw
    )
    return raw


def insert_project(
    conn: Connection, settings: Settings, org_id: str, body: ProjectCreate
) -> dict[str, Any]:
    now = utcnow()
    project_id = new_id("proj")
    row: dict[str, Any] = {
        "id": project_id,
        "org_id": org_id,
        "name": body.name,
        "plan": body.plan or "free",
        "retention_days": body.retention_days,
        "timezone": body.timezone or "UTC",
        "allowed_origins": body.allowed_origins or [],
        "created_at": now,
        "updated_at": now,
    }
    conn.execute(insert(projects).values(**row))
    public_key = public_key_for(conn, settings, org_id, project_id)
    secret_key, _ = keys.issue(
        conn, settings, "secret", org_id=org_id, project_id=project_id, name="secret"
    )
    return {"project": project_view(row), "public_key": public_key, "secret_key": secret_key}


def create_project(
    catalog: Catalog,
    settings: Settings,
    principal: Principal,
    body: ProjectCreate,
    *,
    org_id: str | None = None,
) -> dict[str, Any]:
    """A new project in the caller's org, with its keys (the secret key is shown this once)."""
    org = require_org_admin(principal, org_id)
    try:
        with catalog.begin() as conn:
            created = insert_project(conn, settings, org, body)
            project_id = created["project"]["id"]
            audit.record(
                conn,
                principal,
                "project.create",
                org_id=org,
                project_id=project_id,
                target=project_id,
                details={"name": body.name},
            )
    except IntegrityError:
        raise Conflict(
            "project_exists", f"a project named '{body.name}' exists in this organisation"
        ) from None
    return {
        **created["project"],
        "public_key": created["public_key"],
        "secret_key": created["secret_key"],
    }


def list_projects(
    catalog: Catalog,
    principal: Principal,
    *,
    org_id: str | None = None,
    cursor: str | None = None,
    limit: int = 25,
) -> Page[dict[str, Any]]:
    org = require_org_admin(principal, org_id)
    with catalog.connect() as conn:
        query = select(projects).where(projects.c.org_id == org)
        return paginate(
            conn, query, projects.c.id, cursor=cursor, limit=limit, convert=project_view
        )


def get_project(catalog: Catalog, principal: Principal, project_id: str) -> dict[str, Any]:
    with catalog.connect() as conn:
        return project_view(require_project(conn, principal, project_id, "admin"))


def update_settings(
    catalog: Catalog, principal: Principal, project_id: str, body: ProjectSettingsUpdate
) -> dict[str, Any]:
    """Change a project's settings. The plan tier is a billing decision: org admins only."""
    changes = body.model_dump(exclude_unset=True)
    with catalog.begin() as conn:
        row = require_project(conn, principal, project_id, "admin")
        if "plan" in changes and not principal.can_admin_org(str(row["org_id"])):
            raise Forbidden(
                "admin_key_required",
                "only an org admin (ak_ key or owner) can change the plan tier",
            )
        for field in ("plan", "timezone", "allowed_origins"):
            if field in changes and changes[field] is None:
                raise BadRequest("invalid_setting", f"'{field}' cannot be null")
        if changes:
            changes["updated_at"] = utcnow()
            conn.execute(update(projects).where(projects.c.id == project_id).values(**changes))
            audit.record(
                conn,
                principal,
                "project.update_settings",
                org_id=str(row["org_id"]),
                project_id=project_id,
                target=project_id,
                details={k: v for k, v in changes.items() if k != "updated_at"},
            )
        fresh = conn.execute(select(projects).where(projects.c.id == project_id)).mappings().one()
    return project_view(dict(fresh))


def rotate_secret_key(
    catalog: Catalog, settings: Settings, principal: Principal, project_id: str
) -> dict[str, Any]:
    """Revoke the project's secret keys and issue a new one; the public key is unchanged."""
    with catalog.begin() as conn:
        row = require_project(conn, principal, project_id, "admin")
        revoked = keys.revoke(
            conn, api_keys.c.project_id == project_id, api_keys.c.kind == "secret"
        )
        secret_key, key_row = keys.issue(
            conn,
            settings,
            "secret",
            org_id=str(row["org_id"]),
            project_id=project_id,
            name="secret",
        )
        audit.record(
            conn,
            principal,
            "project.rotate_secret_key",
            org_id=str(row["org_id"]),
            project_id=project_id,
            target=key_row["id"],
            details={"revoked": revoked},
        )
    return {"project_id": project_id, "secret_key": secret_key, "revoked": revoked}


def delete_project(
    catalog: Catalog,
    principal: Principal,
    project_id: str,
    body: ProjectDelete,
    *,
    org_id: str | None = None,
) -> dict[str, Any]:
    """Delete a project and everything the catalog holds for it (org admins only).

    ``project_name`` and ``project_name_confirm`` must both equal the project's name exactly.
    The audit trail keeps a record of the deletion.
    """
    org = require_org_admin(principal, org_id)
    with catalog.begin() as conn:
        row = require_project(conn, principal, project_id, "admin")
        if str(row["org_id"]) != org:
            raise Forbidden("project_not_in_org", "the project belongs to another organisation")
        if body.project_name != row["name"] or body.project_name_confirm != row["name"]:
            raise BadRequest(
                "confirmation_mismatch",
                "project_name and project_name_confirm must both equal the project's name exactly",
                details=[{"field": "project_name_confirm", "expected": "the project's name"}],
            )
        conn.execute(delete(api_keys).where(api_keys.c.project_id == project_id))
        conn.execute(delete(projects).where(projects.c.id == project_id))
        audit.record(
            conn,
            principal,
            "project.delete",
            org_id=org,
            project_id=project_id,
            target=project_id,
            details={"name": row["name"]},
        )
    return {"id": project_id, "deleted": True}
