"""Segments of a project: CRUD (writes need the ``admin`` scope, reads ``query`` or
``admin``) and the members the ``segment_members`` asset computed (cursor-paginated)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import DEFAULT_PAGE_SIZE, CatalogDep, Cursor, Limit, ManagementPrincipal, SettingsDep
from api.schemas import Page, error_responses
from growthos_pipeline import segments
from growthos_pipeline.segments import SegmentCreate, SegmentUpdate

router = APIRouter(
    prefix="/projects/{project_id}/segments",
    tags=["segments"],
    responses=error_responses(401, 403, 404, 422, 429),
)


class Segment(BaseModel):
    id: str
    project_id: str
    name: str
    filter: str
    window_days: int
    description: str | None
    created_at: datetime
    updated_at: datetime


class SegmentDeleted(Segment):
    deleted: bool


class SegmentMember(BaseModel):
    user_id: str
    computed_at: datetime


@router.post("", name="create_segment", status_code=201, responses=error_responses(400))
def create_segment(
    principal: ManagementPrincipal, project_id: str, body: SegmentCreate, catalog: CatalogDep
) -> Segment:
    """A segment: a filter of the query language; a filter that does not compile answers
    400 ``invalid_segment_filter`` with its line and column."""
    return Segment.model_validate(segments.create_segment(catalog, principal, project_id, body))


@router.get("", name="list_segments")
def list_segments(
    principal: ManagementPrincipal,
    project_id: str,
    catalog: CatalogDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Page[Segment]:
    page: Any = segments.list_segments(catalog, principal, project_id, cursor=cursor, limit=limit)
    return Page[Segment].model_validate(page, from_attributes=True)


@router.get("/{segment_id}", name="get_segment")
def get_segment(
    principal: ManagementPrincipal, project_id: str, segment_id: str, catalog: CatalogDep
) -> Segment:
    return Segment.model_validate(segments.get_segment(catalog, principal, project_id, segment_id))


@router.patch("/{segment_id}", name="update_segment", responses=error_responses(400))
def update_segment(
    principal: ManagementPrincipal,
    project_id: str,
    segment_id: str,
    body: SegmentUpdate,
    catalog: CatalogDep,
) -> Segment:
    return Segment.model_validate(
        segments.update_segment(catalog, principal, project_id, segment_id, body)
    )


@router.delete("/{segment_id}", name="delete_segment")
def delete_segment(
    principal: ManagementPrincipal, project_id: str, segment_id: str, catalog: CatalogDep
) -> SegmentDeleted:
    return SegmentDeleted.model_validate(
        segments.delete_segment(catalog, principal, project_id, segment_id)
    )


@router.get("/{segment_id}/members", name="list_segment_members", responses=error_responses(400))
def list_segment_members(
    principal: ManagementPrincipal,
    project_id: str,
    segment_id: str,
    catalog: CatalogDep,
    settings: SettingsDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Page[SegmentMember]:
    """The segment's members at the last build, by user id."""
    page: Any = segments.list_members(
        catalog, settings, principal, project_id, segment_id, cursor=cursor, limit=limit
    )
    return Page[SegmentMember].model_validate(page, from_attributes=True)
