"""Daily usage of a project (events ingested, queries run), read from the ``usage_daily``
asset. Reads need the ``query`` or ``admin`` scope; the admin alias is for org admin keys."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import CatalogDep, ManagementPrincipal, OrgAdminPrincipal, SettingsDep
from api.schemas import error_responses
from growthos_pipeline import usage

router = APIRouter(tags=["usage"], responses=error_responses(400, 401, 403, 404, 422, 429))

From = Annotated[
    str | None,
    Query(alias="from", description="First day (YYYY-MM-DD); default: the first of this month"),
]
To = Annotated[
    str | None, Query(alias="to", description="Last day (YYYY-MM-DD), inclusive; default: today")
]


class UsageDay(BaseModel):
    day: date
    events_ingested: int
    queries_run: int


class UsageTotals(BaseModel):
    events_ingested: int
    queries_run: int


class Usage(BaseModel):
    project_id: str
    from_: date = Field(serialization_alias="from")
    to: date
    data: list[UsageDay]
    totals: UsageTotals
    computed_at: datetime | None = Field(
        description="When the usage_daily asset last ran for the project (null: never)"
    )


def _usage(body: dict[str, object]) -> Usage:
    return Usage.model_validate({**body, "from_": body["from"]})


@router.get("/projects/{project_id}/usage", name="get_project_usage", response_model_by_alias=True)
def get_project_usage(
    principal: ManagementPrincipal,
    project_id: str,
    catalog: CatalogDep,
    settings: SettingsDep,
    from_: From = None,
    to: To = None,
) -> Usage:
    """Events ingested and queries run per UTC day (this month by default)."""
    return _usage(usage.daily_usage(catalog, settings, principal, project_id, start=from_, end=to))


@router.get(
    "/admin/projects/{project_id}/usage",
    name="admin_get_project_usage",
    response_model_by_alias=True,
)
def admin_get_project_usage(
    principal: OrgAdminPrincipal,
    project_id: str,
    catalog: CatalogDep,
    settings: SettingsDep,
    from_: From = None,
    to: To = None,
) -> Usage:
    """The org admin's view of a project's daily usage."""
    return _usage(usage.daily_usage(catalog, settings, principal, project_id, start=from_, end=to))
