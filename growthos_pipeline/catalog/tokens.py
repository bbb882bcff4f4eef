"""Scoped access tokens (``aat_``): a name, scopes among track/query/admin, an expiry.

A token is shown once, at creation; lists show its display prefix only. A caller can only
hand out scopes it holds itself, so an admin-scoped token cannot mint anything wider.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from growthos_pipeline.catalog import audit, keys
from growthos_pipeline.catalog.access import Principal, require_project
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.models import TokenCreate, duration_seconds
from growthos_pipeline.catalog.pagination import Page, paginate
from growthos_pipeline.catalog.tables import api_keys, utcnow
from growthos_pipeline.errors import BadRequest, Forbidden, NotFound
from growthos_pipeline.settings import Settings


def token_view(row: dict[str, Any]) -> dict[str, Any]:
    now = utcnow()
    expires_at = row["expires_at"]
    if row["revoked_at"] is not None:
        status = "revoked"
    elif expires_at is not None and expires_at <= now:
        status = "expired"
    else:
        status = "active"
    return {
        "id": row["id"],
        "project_id": row["project_id"],
        "name": row["name"],
        "prefix": row["display"],
        "scopes": list(row["scopes"]),
        "created_at": row["created_at"],
        "expires_at": expires_at,
        "revoked_at": row["revoked_at"],
        "status": status,
    }


def create_token(
    catalog: Catalog,
    settings: Settings,
    principal: Principal,
    project_id: str,
    body: TokenCreate,
) -> dict[str, Any]:
    """A new token; its secret is in the answer and nowhere else, ever."""
    seconds = duration_seconds(body.expires_in)
    if seconds < 60 or seconds > settings.token_max_ttl_hours * 3600:
        raise BadRequest(
            "invalid_expires_in",
            f"expires_in must be between 1m and {settings.token_max_ttl_hours}h, "
            f"found '{body.expires_in}'",
        )
    with catalog.begin() as conn:
        row = require_project(conn, principal, project_id, "admin")
        org_id = str(row["org_id"])
        if not principal.can_admin_org(org_id):
            wider = sorted(set(body.scopes) - principal.scopes)
            if wider:
                raise Forbidden(
                    "scope_escalation",
                    f"a credential cannot grant scopes it does not hold: {wider}",
                )
        raw, key_row = keys.issue(
            conn,
            settings,
            "token",
            org_id=org_id,
            project_id=project_id,
            name=body.name,
            scopes=sorted(set(body.scopes)),
            expires_at=utcnow() + timedelta(seconds=seconds),
        )
        audit.record(
            conn,
            principal,
            "token.create",
            org_id=org_id,
            project_id=project_id,
            target=key_row["id"],
            details={"name": body.name, "scopes": body.scopes},
        )
    return {**token_view(key_row), "token": raw}


def list_tokens(
    catalog: Catalog,
    principal: Principal,
    project_id: str,
    *,
    cursor: str | None = None,
    limit: int = 25,
) -> Page[dict[str, Any]]:
    with catalog.connect() as conn:
        require_project(conn, principal, project_id, "admin")
        query = select(api_keys).where(
            api_keys.c.project_id == project_id, api_keys.c.kind == "token"
        )
        return paginate(conn, query, api_keys.c.id, cursor=cursor, limit=limit, convert=token_view)


def _token_row(conn: Any, project_id: str, token_id: str) -> dict[str, Any]:
    row = (
        conn.execute(
            select(api_keys).where(
                api_keys.c.id == token_id,
                api_keys.c.project_id == project_id,
                api_keys.c.kind == "token",
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("token_not_found", f"no token '{token_id}' in this project")
    return dict(row)


def get_token(
    catalog: Catalog, principal: Principal, project_id: str, token_id: str
) -> dict[str, Any]:
    with catalog.connect() as conn:
        require_project(conn, principal, project_id, "admin")
        return token_view(_token_row(conn, project_id, token_id))


def revoke_token(
    catalog: Catalog, principal: Principal, project_id: str, token_id: str
) -> dict[str, Any]:
    """Revoke a token; it stops working at once. Revoking twice is harmless."""
    with catalog.begin() as conn:
        row = require_project(conn, principal, project_id, "admin")
        _token_row(conn, project_id, token_id)
        revoked = keys.revoke(conn, api_keys.c.id == token_id)
        if revoked:
            audit.record(
                conn,
                principal,
                "token.revoke",
                org_id=str(row["org_id"]),
                project_id=project_id,
                target=token_id,
            )
        return token_view(_token_row(conn, project_id, token_id))
