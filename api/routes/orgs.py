"""The session API: a person signed in with GitHub manages their organisations.

An org admin key (``ak_``) is accepted here too, for its own organisation.
"""

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
    AdminKeyRotated,
    Org,
    OrgCreated,
    Page,
    Project,
    ProjectCreated,
    ProjectDeleted,
    User,
    error_responses,
)
from growthos_pipeline import deletion
from growthos_pipeline.catalog import accounts, orgs, projects
from growthos_pipeline.catalog.models import OrgCreate, ProjectCreate, ProjectDelete

router = APIRouter(tags=["orgs"], responses=error_responses(401, 403, 404, 422, 429))


@router.get("/me", name="get_me")
def get_me(principal: ManagementPrincipal, catalog: CatalogDep) -> User:
    """The signed-in person."""
    return User.model_validate(accounts.get_user(catalog, principal))


@router.get("/orgs", name="list_orgs")
def list_orgs(
    principal: ManagementPrincipal,
    catalog: CatalogDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Page[Org]:
    page: Any = orgs.list_orgs(catalog, principal, cursor=cursor, limit=limit)
    return Page[Org].model_validate(page, from_attributes=True)


@router.post("/orgs", name="create_org", status_code=201, responses=error_responses(409))
def create_org(
    principal: ManagementPrincipal, body: OrgCreate, catalog: CatalogDep, settings: SettingsDep
) -> OrgCreated:
    """A new organisation owned by the signed-in person, with its admin key (shown once)."""
    accounts.get_user(catalog, principal)  # signed-in people only
    return OrgCreated.model_validate(orgs.create_org(catalog, settings, body, owner=principal))


@router.get("/orgs/{org_id}", name="get_org")
def get_org(principal: ManagementPrincipal, org_id: str, catalog: CatalogDep) -> Org:
    return Org.model_validate(orgs.get_org(catalog, principal, org_id))


@router.post("/orgs/{org_id}/rotate-admin-key", name="rotate_org_admin_key", status_code=201)
def rotate_org_admin_key(
    principal: ManagementPrincipal, org_id: str, catalog: CatalogDep, settings: SettingsDep
) -> AdminKeyRotated:
    return AdminKeyRotated.model_validate(
        orgs.rotate_admin_key(catalog, settings, principal, org_id)
    )


@router.get("/orgs/{org_id}/projects", name="list_org_projects")
def list_org_projects(
    principal: ManagementPrincipal,
    org_id: str,
    catalog: CatalogDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Page[Project]:
    page: Any = projects.list_projects(
        catalog, principal, org_id=org_id, cursor=cursor, limit=limit
    )
    return Page[Project].model_validate(page, from_attributes=True)


@router.post(
    "/orgs/{org_id}/projects",
    name="create_org_project",
    status_code=201,
    responses=error_responses(409),
)
def create_org_project(
    principal: ManagementPrincipal,
    org_id: str,
    body: ProjectCreate,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> ProjectCreated:
    return ProjectCreated.model_validate(
        projects.create_project(catalog, settings, principal, body, org_id=org_id)
    )


@router.delete(
    "/orgs/{org_id}/projects/{project_id}",
    name="delete_org_project",
    dependencies=[require_feature("project_delete")],
    responses=error_responses(400, 503),
)
def delete_org_project(
    principal: ManagementPrincipal,
    org_id: str,
    project_id: str,
    body: ProjectDelete,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> ProjectDeleted:
    """Delete a project and all its data (catalog and lake)."""
    return ProjectDeleted.model_validate(
        deletion.delete_project(catalog, settings, principal, project_id, body, org_id=org_id)
    )
