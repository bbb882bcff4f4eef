"""The audit trail: who changed what, when, under which request id.

The API sets :data:`request_id` for the duration of each request; core functions call
:func:`record` inside the transaction of the change, so the trail and the change commit
together.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from sqlalchemy import Connection, insert, select

from growthos_pipeline.catalog.access import Principal, require_org_admin, require_project
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.pagination import Page, paginate
from growthos_pipeline.catalog.tables import audit_log, utcnow
from growthos_pipeline.ids import new_id

request_id: ContextVar[str | None] = ContextVar("growthos_request_id", default=None)


def record(
    conn: Connection,
    principal: Principal | None,
    action: str,
    *,
    org_id: str | None,
    project_id: str | None = None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
    actor: str | None = None,
) -> None:
    conn.execute(
        insert(audit_log).values(
            id=new_id("aud"),
            org_id=org_id,
            project_id=project_id,
            actor=actor or (principal.actor if principal else "system"),
            action=action,
            target=target,
            details=details or {},
            request_id=request_id.get(),
            created_at=utcnow(),
        )
    )


def _entry(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "action": row["action"],
        "actor": row["actor"],
        "org_id": row["org_id"],
        "project_id": row["project_id"],
        "target": row["target"],
        "details": row["details"],
        "request_id": row["request_id"],
        "created_at": row["created_at"],
    }


def list_org_audit(
    catalog: Catalog,
    principal: Principal,
    *,
    org_id: str | None = None,
    cursor: str | None = None,
    limit: int = 25,
) -> Page[dict[str, Any]]:
    """The org's audit trail, oldest first (org admins only)."""
    org = require_org_admin(principal, org_id)
    with catalog.connect() as conn:
        query = select(audit_log).where(audit_log.c.org_id == org)
        return paginate(conn, query, audit_log.c.id, cursor=cursor, limit=limit, convert=_entry)


def list_project_audit(
    catalog: Catalog,
    principal: Principal,
    project_id: str,
    *,
    cursor: str | None = None,
    limit: int = 25,
) -> Page[dict[str, Any]]:
    """One project's audit trail, oldest first (admin scope)."""
    with catalog.connect() as conn:
        require_project(conn, principal, project_id, "admin")
        query = select(audit_log).where(audit_log.c.project_id == project_id)
        return paginate(conn, query, audit_log.c.id, cursor=cursor, limit=limit, convert=_entry)
