"""The admin API: the org admin key (``ak_``) manages its organisation and its projects."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import (
    DEFAULT_PAGE_SIZE,
    CatalogDep,
    Cursor,
    Limit,
    OrgAdminPrincipal,
    SettingsDep,
    require_feature,
)
from api.schemas import (
    AdminKeyRotated,
    AuditEntry,
    Org,
    Page,
    Project,
    ProjectCreated,
    ProjectDeleted,
    SecretKeyRotated,
    error_responses,
)
from growthos_pipeline import deletion
from growthos_pipeline.catalog import audit, orgs, projects
from growthos_pipeline.catalog.models import ProjectCreate, ProjectDelete

router = APIRouter(
    prefix="/admin", tags=["admin"], responses=error_responses(401, 403, 404, 422, 429)
)


@router.get("/org", name="admin_get_org")
def admin_get_org(principal: OrgAdminPrincipal, catalog: CatalogDep) -> Org:
    """The organisation of the admin key."""
    return Org.model_validate(orgs.get_org(catalog, principal))


@router.post("/rotate-key", name="admin_rotate_key", status_code=201)
def admin_rotate_key(
    principal: OrgAdminPrincipal, catalog: CatalogDep, settings: SettingsDep
) -> AdminKeyRotated:
    """Revoke every admin key of the org and issue a new one (shown once)."""
    return AdminKeyRotated.model_validate(orgs.rotate_admin_key(catalog, settings, principal))


@router.get("/projects", name="admin_list_projects")
def admin_list_projects(
    principal: OrgAdminPrincipal,
    catalog: CatalogDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Page[Project]:
    page = projects.list_projects(catalog, principal, cursor=cursor, limit=limit)
    return Page[Project].model_validate(page, from_attributes=True)


@router.post(
    "/projects", name="admin_create_project", status_code=201, responses=error_responses(409)
)
def admin_create_project(
    principal: OrgAdminPrincipal,
    body: ProjectCreate,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> ProjectCreated:
    """A new project with its public key and secret key (the secret key is shown once)."""
    return ProjectCreated.model_validate(
        projects.create_project(catalog, settings, principal, body)
    )


@router.get("/projects/{project_id}", name="admin_get_project")
def admin_get_project(
    principal: OrgAdminPrincipal, project_id: str, catalog: CatalogDep
) -> Project:
    return Project.model_validate(projects.get_project(catalog, principal, project_id))


@router.delete(
    "/projects/{project_id}",
    name="admin_delete_project",
    dependencies=[require_feature("project_delete")],
    responses=error_responses(400, 503),
)
def admin_delete_project(
    principal: OrgAdminPrincipal,
    project_id: str,
    body: ProjectDelete,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> ProjectDeleted:
    """Delete a project and all its data (catalog and lake); ``project_name`` must be typed
    twice."""
    return ProjectDeleted.model_validate(
        deletion.delete_project(catalog, settings, principal, project_id, body)
    )


@router.post(
    "/projects/{project_id}/rotate-secret-key", name="admin_rotate_secret_key", status_code=201
)
def admin_rotate_secret_key(
    principal: OrgAdminPrincipal, project_id: str, catalog: CatalogDep, settings: SettingsDep
) -> SecretKeyRotated:
    """Revoke the project's secret keys and issue a new one; the public key is unchanged."""
    return SecretKeyRotated.model_validate(
        projects.rotate_secret_key(catalog, settings, principal, project_id)
    )


@router.get("/audit", name="admin_list_audit")
def admin_list_audit(
    principal: OrgAdminPrincipal,
    catalog: CatalogDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Page[AuditEntry]:
    """The organisation's audit trail, oldest first."""
    page: Any = audit.list_org_audit(catalog, principal, cursor=cursor, limit=limit)
    return Page[AuditEntry].model_validate(page, from_attributes=True)
