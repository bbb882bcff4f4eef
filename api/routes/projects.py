"""The project API: a project's secret key (``sk_``), an ``aat_`` token with the admin scope,
or an org admin of its org, reads and changes the project and its tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import (
    DEFAULT_PAGE_SIZE,
    CatalogDep,
    Cursor,
    Limit,
    ManagementPrincipal,
    SettingsDep,
    require_feature,
)
from api.schemas import (
    AuditEntry,
    Page,
    Project,
    SecretKeyRotated,
    Token,
    TokenCreated,
    error_responses,
)
from growthos_pipeline.catalog import audit, projects, tokens
from growthos_pipeline.catalog.models import ProjectSettingsUpdate, TokenCreate

router = APIRouter(
    prefix="/projects/{project_id}",
    tags=["projects"],
    responses=error_responses(401, 403, 404, 422, 429),
)


@router.get("", name="get_project")
def get_project(principal: ManagementPrincipal, project_id: str, catalog: CatalogDep) -> Project:
    return Project.model_validate(projects.get_project(catalog, principal, project_id))


@router.get("/settings", name="get_project_settings")
def get_project_settings(
    principal: ManagementPrincipal, project_id: str, catalog: CatalogDep
) -> Project:
    return Project.model_validate(projects.get_project(catalog, principal, project_id))


@router.patch("/settings", name="update_project_settings", responses=error_responses(400))
def update_project_settings(
    principal: ManagementPrincipal,
    project_id: str,
    body: ProjectSettingsUpdate,
    catalog: CatalogDep,
) -> Project:
    """Change plan tier (org admins only), data retention, time zone, allowed origins."""
    return Project.model_validate(projects.update_settings(catalog, principal, project_id, body))


@router.post("/rotate-secret-key", name="rotate_secret_key", status_code=201)
def rotate_secret_key(
    principal: ManagementPrincipal, project_id: str, catalog: CatalogDep, settings: SettingsDep
) -> SecretKeyRotated:
    return SecretKeyRotated.model_validate(
        projects.rotate_secret_key(catalog, settings, principal, project_id)
    )


@router.get("/tokens", name="list_tokens", dependencies=[require_feature("tokens")])
def list_tokens(
    principal: ManagementPrincipal,
    project_id: str,
    catalog: CatalogDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Page[Token]:
    """The project's tokens, by prefix only."""
    page: Any = tokens.list_tokens(catalog, principal, project_id, cursor=cursor, limit=limit)
    return Page[Token].model_validate(page, from_attributes=True)


@router.post(
    "/tokens",
    name="create_token",
    status_code=201,
    dependencies=[require_feature("tokens")],
    responses=error_responses(400, 503),
)
def create_token(
    principal: ManagementPrincipal,
    project_id: str,
    body: TokenCreate,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> TokenCreated:
    """A scoped access token; the token itself is in this answer only."""
    return TokenCreated.model_validate(
        tokens.create_token(catalog, settings, principal, project_id, body)
    )


@router.get("/tokens/{token_id}", name="get_token", dependencies=[require_feature("tokens")])
def get_token(
    principal: ManagementPrincipal, project_id: str, token_id: str, catalog: CatalogDep
) -> Token:
    return Token.model_validate(tokens.get_token(catalog, principal, project_id, token_id))


@router.delete("/tokens/{token_id}", name="revoke_token", dependencies=[require_feature("tokens")])
def revoke_token(
    principal: ManagementPrincipal, project_id: str, token_id: str, catalog: CatalogDep
) -> Token:
    """Revoke a token: it stops working at once."""
    return Token.model_validate(tokens.revoke_token(catalog, principal, project_id, token_id))


@router.get("/audit", name="list_project_audit")
def list_project_audit(
    principal: ManagementPrincipal,
    project_id: str,
    catalog: CatalogDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Page[AuditEntry]:
    page: Any = audit.list_project_audit(catalog, principal, project_id, cursor=cursor, limit=limit)
    return Page[AuditEntry].model_validate(page, from_attributes=True)
