"""Who is calling, and what they may touch.

Every management call resolves its credential to a :class:`Principal`, then asks this module
for the org or project it names. Anything outside the principal's reach answers 404 (it does
not reveal that another tenant's project exists); a reachable project without the needed scope
answers 403.

Examples
--------
>>> p = Principal(kind="token", id="key_1", org_id="org_1", project_id="proj_1",
...               scopes=frozenset({"query"}), plan="free")
>>> p.can_admin_org("org_1")
False
>>> p.has_scope("query"), p.has_scope("admin")
(True, False)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import Connection, select

from growthos_pipeline.catalog.tables import orgs, projects
from growthos_pipeline.errors import Forbidden, NotFound

PrincipalKind = Literal["admin", "public", "secret", "token", "session"]
Scope = Literal["track", "query", "admin"]
SCOPES: tuple[Scope, ...] = ("track", "query", "admin")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: an API key, an access token, or a signed-in person."""

    kind: PrincipalKind
    id: str
    org_id: str | None
    project_id: str | None
    scopes: frozenset[str]
    plan: str
    admin_org_ids: frozenset[str] = field(default_factory=frozenset)
    user_id: str | None = None
    #: Browser origins allowed to send events with the project's public key (empty: any).
    allowed_origins: tuple[str, ...] = ()

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"user:{self.user_id}" if self.user_id else f"key:{self.id}"

    def can_admin_org(self, org_id: str) -> bool:
        return org_id in self.admin_org_ids

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def require_admin_kind(principal: Principal) -> None:
    """403 ``admin_key_required`` unless the principal is an org admin key or a person signed
    in: project keys and tokens (``pk_``, ``sk_``, ``aat_``) never manage organisations."""
    if principal.kind not in ("admin", "session"):
        raise Forbidden(
            "admin_key_required",
            f"this call needs an org admin key (ak_) or a signed-in owner; "
            f"found a {principal.kind} credential",
        )


def require_org_admin(principal: Principal, org_id: str | None = None) -> str:
    """The org the principal administers (``org_id`` if given); 403/404 otherwise."""
    require_admin_kind(principal)
    if org_id is None:
        if principal.org_id is None:
            raise Forbidden("org_required", "name the organisation in the path")
        org_id = principal.org_id
    if not principal.can_admin_org(org_id):
        raise NotFound("org_not_found", f"no organisation '{org_id}' for this credential")
    return org_id


def require_project(
    conn: Connection, principal: Principal, project_id: str, scope: Scope
) -> dict[str, object]:
    """The project row if the principal reaches it with ``scope``; 404/403 otherwise.

    Org admins (admin keys, owners signed in) reach every project of their org with every
    scope; project keys and tokens reach their own project with their own scopes.
    """
    row = conn.execute(select(projects).where(projects.c.id == project_id)).mappings().first()
    in_reach = row is not None and (
        principal.can_admin_org(str(row["org_id"])) or principal.project_id == project_id
    )
    if row is None or not in_reach:
        raise NotFound("project_not_found", f"no project '{project_id}' for this credential")
    if not principal.can_admin_org(str(row["org_id"])) and not principal.has_scope(scope):
        raise Forbidden(
            "insufficient_scope",
            f"this call needs the '{scope}' scope; the credential has "
            f"{sorted(principal.scopes) or 'none'}",
            details=[{"required_scope": scope, "granted_scopes": sorted(principal.scopes)}],
        )
    return dict(row)


def org_plan(conn: Connection, org_id: str) -> str:
    plan = conn.execute(select(orgs.c.plan).where(orgs.c.id == org_id)).scalar_one_or_none()
    return str(plan or "free")


def require_ingest(principal: Principal, origin: str | None = None) -> str:
    """The project a credential may send events to; 403 otherwise.

    Public keys are embedded in web pages, so a project can restrict the browser origins
    that may use its public key (``allowed_origins``); server-side keys are not checked.
    """
    if principal.project_id is None:
        raise Forbidden(
            "project_key_required",
            f"sending events needs a project key (pk_, sk_) or a token with the 'track' "
            f"scope; found a {principal.kind} credential",
        )
    if not principal.has_scope("track"):
        raise Forbidden(
            "insufficient_scope",
            f"sending events needs the 'track' scope; the credential has "
            f"{sorted(principal.scopes) or 'none'}",
            details=[{"required_scope": "track", "granted_scopes": sorted(principal.scopes)}],
        )
    if (
        principal.kind == "public"
        and origin
        and principal.allowed_origins
        and "*" not in principal.allowed_origins
        and origin.rstrip("/") not in principal.allowed_origins
    ):
        raise Forbidden(
            "origin_not_allowed",
            f"the origin '{origin[:100]}' may not send events with this public key; "
            "add it to the project's allowed_origins",
        )
    return principal.project_id


def require_project_read(
    conn: Connection, principal: Principal, project_id: str
) -> dict[str, object]:
    """The project row if the principal may read its derived data (usage, segments, profiles):
    the ``query`` or the ``admin`` scope; 404/403 otherwise."""
    try:
        return require_project(conn, principal, project_id, "query")
    except Forbidden:
        if not principal.has_scope("admin"):
            raise Forbidden(
                "insufficient_scope",
                f"this call needs the 'query' or the 'admin' scope; the credential has "
                f"{sorted(principal.scopes) or 'none'}",
                details=[{"required_scope": "query", "granted_scopes": sorted(principal.scopes)}],
            ) from None
        return require_project(conn, principal, project_id, "admin")
