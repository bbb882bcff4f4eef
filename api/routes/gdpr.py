"""GDPR: export or erase one person's data (a project's ``sk_``, an ``aat_`` token with the
``admin`` scope, or an org admin naming the project with ``?project_id=``).

Both calls are written to the audit trail, which names the person by a keyed hash only.
A deletion answers 202 with a job and runs after the answer; poll ``GET /gdpr/jobs/{id}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api.deps import (
    DEFAULT_PAGE_SIZE,
    CatalogDep,
    Cursor,
    Limit,
    ManagementPrincipal,
    SettingsDep,
    require_feature,
)
from api.schemas import Page, error_responses
from growthos_pipeline import gdpr

UserId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=gdpr.MAX_USER_ID_CHARS,
        description="The user id, as sent in events",
    ),
]
ProjectId = Annotated[
    str | None, Query(max_length=40, description="Only for org admin keys: the project")
]


class GdprJob(BaseModel):
    id: str
    project_id: str
    subject_hash: str = Field(
        description="HMAC-SHA256 of the subject under the server "
        "secret: the catalog keeps no raw user id"
    )
    status: str = Field(examples=["queued", "running", "completed", "failed"])
    requested_by: str
    counts: dict[str, Any] = Field(description="Rows deleted per lake table, devices, ...")
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


router = APIRouter(
    prefix="/gdpr", tags=["gdpr"], responses=error_responses(400, 401, 403, 404, 422, 429, 503)
)


def _flush(request: Request) -> gdpr.Flush | None:
    ingestor = getattr(request.app.state, "ingestor", None)
    return ingestor.flush_now if ingestor is not None else None


@router.delete(
    "/users/{user_id}",
    name="gdpr_delete_user",
    status_code=202,
    dependencies=[require_feature("gdpr_delete")],
)
def delete_user(
    principal: ManagementPrincipal,
    user_id: UserId,
    request: Request,
    background: BackgroundTasks,
    catalog: CatalogDep,
    settings: SettingsDep,
    project_id: ProjectId = None,
) -> GdprJob:
    """Erase the person from the lake (events, identities, profiles, sessions, segment
    members), the write-ahead logs and the Delta history. Events received after this call
    are kept."""
    job, run = gdpr.request_deletion(
        catalog, settings, principal, user_id, project_id=project_id, flush=_flush(request)
    )
    background.add_task(run)
    return GdprJob.model_validate(job)


@router.get(
    "/users/{user_id}/export",
    name="gdpr_export_user",
    dependencies=[require_feature("gdpr_export")],
    responses={
        200: {
            "content": {"application/x-ndjson": {}},
            "description": "One event per line, oldest first",
        }
    },
)
def export_user(
    principal: ManagementPrincipal,
    user_id: UserId,
    request: Request,
    catalog: CatalogDep,
    settings: SettingsDep,
    project_id: ProjectId = None,
) -> StreamingResponse:
    """Every event of the person (its user ids, aliases and anonymous events of its devices)
    as NDJSON."""
    digest, stream = gdpr.start_export(
        catalog, settings, principal, user_id, project_id=project_id, flush=_flush(request)
    )
    return StreamingResponse(
        stream,
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="gdpr-{digest[:16]}.ndjson"'},
    )


@router.get("/jobs", name="list_gdpr_jobs")
def list_jobs(
    principal: ManagementPrincipal,
    catalog: CatalogDep,
    settings: SettingsDep,
    project_id: ProjectId = None,
    user_id: Annotated[
        str | None, Query(max_length=gdpr.MAX_USER_ID_CHARS, description="Only this person's jobs")
    ] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Page[GdprJob]:
    """The project's deletion jobs, oldest first (for auditors)."""
    page: Any = gdpr.list_jobs(
        catalog,
        settings,
        principal,
        project_id=project_id,
        user_id=user_id,
        cursor=cursor,
        limit=limit,
    )
    return Page[GdprJob].model_validate(page, from_attributes=True)


@router.get("/jobs/{job_id}", name="get_gdpr_job")
def get_job(
    principal: ManagementPrincipal, job_id: Annotated[str, Path(max_length=64)], catalog: CatalogDep
) -> GdprJob:
    return GdprJob.model_validate(gdpr.get_job(catalog, principal, job_id))
