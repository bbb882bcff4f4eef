"""Campaigns of a project (waitlist, referral, survey, social proof): CRUD, a waitlist's
signups (list or find by email, CSV export, invite, erase), the leaderboard and the summary.

Writes, and everything that shows email addresses (signups, their export), need the ``admin``
scope; other reads ``query`` or ``admin``. Paths name a campaign by its id or its key. A
configuration that does not fit the campaign's type answers ``400 invalid_campaign_config``
naming each field; a body of the wrong shape ``422 validation_error``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
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
from growthos_pipeline.campaigns import abuse, referrals, store, waitlist
from growthos_pipeline.campaigns.config import CampaignCreate, CampaignUpdate
from growthos_pipeline.campaigns.summary import campaign_summary

router = APIRouter(
    prefix="/projects/{project_id}/campaigns",
    tags=["campaigns"],
    dependencies=[require_feature("campaigns")],
    responses=error_responses(401, 403, 404, 422, 429, 503),
)

CampaignRef = Annotated[str, Path(max_length=64, description="The campaign's id or key")]
SignupId = Annotated[str, Path(max_length=40)]


class Campaign(BaseModel):
    id: str
    project_id: str
    key: str
    type: Literal["waitlist", "referral", "survey", "social_proof"]
    name: str
    status: Literal["draft", "active", "paused", "ended"]
    config: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class CampaignDeleted(Campaign):
    deleted: bool


class Signup(BaseModel):
    id: str
    email: str
    position: int
    referral_code: str
    referred_by: str | None = Field(description="The id of the signup whose code was used")
    referrals: int
    invited_at: datetime | None
    created_at: datetime


class AdminLeaderboardEntry(BaseModel):
    rank: int
    name: str
    referrals: int
    conversions: int
    user_id: str | None = Field(default=None, description="Referral programmes")
    signup_id: str | None = Field(default=None, description="Waitlists")


class AdminLeaderboard(BaseModel):
    entries: list[AdminLeaderboardEntry]


@router.post("", name="create_campaign", status_code=201, responses=error_responses(400, 409))
def create_campaign(
    principal: ManagementPrincipal, project_id: str, body: CampaignCreate, catalog: CatalogDep
) -> Campaign:
    """A campaign: its key (public URLs name it), type, name, status (default ``draft``:
    public endpoints answer only ``active`` ones) and the configuration of its type."""
    return Campaign.model_validate(store.create_campaign(catalog, principal, project_id, body))


@router.get("", name="list_campaigns")
def list_campaigns(
    principal: ManagementPrincipal,
    project_id: str,
    catalog: CatalogDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Page[Campaign]:
    page: Any = store.list_campaigns(catalog, principal, project_id, cursor=cursor, limit=limit)
    return Page[Campaign].model_validate(page, from_attributes=True)


@router.get("/{campaign_key}", name="get_campaign")
def get_campaign(
    principal: ManagementPrincipal, project_id: str, campaign_key: CampaignRef, catalog: CatalogDep
) -> Campaign:
    return Campaign.model_validate(store.get_campaign(catalog, principal, project_id, campaign_key))


@router.patch("/{campaign_key}", name="update_campaign", responses=error_responses(400))
def update_campaign(
    principal: ManagementPrincipal,
    project_id: str,
    campaign_key: CampaignRef,
    body: CampaignUpdate,
    catalog: CatalogDep,
) -> Campaign:
    """Change the name, the status, or configuration fields (those sent replace theirs; the
    whole configuration is validated again)."""
    return Campaign.model_validate(
        store.update_campaign(catalog, principal, project_id, campaign_key, body)
    )


@router.delete("/{campaign_key}", name="delete_campaign")
def delete_campaign(
    principal: ManagementPrincipal, project_id: str, campaign_key: CampaignRef, catalog: CatalogDep
) -> CampaignDeleted:
    """Delete a campaign with its signups, codes and attributions (survey responses stay in
    the lake as events)."""
    return CampaignDeleted.model_validate(
        store.delete_campaign(catalog, principal, project_id, campaign_key)
    )


@router.get("/{campaign_key}/signups", name="list_campaign_signups")
def list_campaign_signups(
    principal: ManagementPrincipal,
    project_id: str,
    campaign_key: CampaignRef,
    catalog: CatalogDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    email: Annotated[
        str | None,
        Query(
            max_length=abuse.MAX_EMAIL,
            description="Only the signup of this address (normalized as signups are)",
        ),
    ] = None,
) -> Page[Signup]:
    """A waitlist's signups in signup order, each with its current position; ``email``
    finds one person's signup."""
    page: Any = waitlist.list_signups(
        catalog, principal, project_id, campaign_key, cursor=cursor, limit=limit, email=email
    )
    return Page[Signup].model_validate(page, from_attributes=True)


@router.get(
    "/{campaign_key}/signups.csv",
    name="export_campaign_signups",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "The signups as CSV"}},
)
def export_campaign_signups(
    principal: ManagementPrincipal, project_id: str, campaign_key: CampaignRef, catalog: CatalogDep
) -> StreamingResponse:
    """Every signup of a waitlist as CSV, in waitlist order (``position``, ``email``,
    ``referral_code``, ``referrals``, ``referred_by``, ``invited_at``, ``created_at``,
    ``id``)."""
    lines = waitlist.export_signups(catalog, principal, project_id, campaign_key)
    filename = f"{campaign_key}-signups.csv".replace('"', "")
    return StreamingResponse(
        lines,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post("/{campaign_key}/signups/{signup_id}/invite", name="invite_campaign_signup")
def invite_campaign_signup(
    principal: ManagementPrincipal,
    project_id: str,
    campaign_key: CampaignRef,
    signup_id: SignupId,
    catalog: CatalogDep,
) -> Signup:
    """Mark a signup invited and record when (inviting again keeps the first time)."""
    return Signup.model_validate(
        waitlist.invite(catalog, principal, project_id, campaign_key, signup_id)
    )


@router.delete(
    "/{campaign_key}/signups/{signup_id}",
    name="delete_campaign_signup",
    status_code=204,
    response_class=Response,
)
def delete_campaign_signup(
    principal: ManagementPrincipal,
    project_id: str,
    campaign_key: CampaignRef,
    signup_id: SignupId,
    catalog: CatalogDep,
) -> Response:
    """Erase a signup: its row with the email address, referral code and link. The signup
    whose code it came with keeps the referral; the signups that came with its code keep
    their places and lose their ``referred_by``; the signups behind it move up one place."""
    waitlist.delete_signup(catalog, principal, project_id, campaign_key, signup_id)
    return Response(status_code=204)


@router.get("/{campaign_key}/leaderboard", name="get_campaign_leaderboard")
def get_campaign_leaderboard(
    principal: ManagementPrincipal,
    project_id: str,
    campaign_key: CampaignRef,
    catalog: CatalogDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=referrals.MAX_LEADERBOARD)] = (
        referrals.DEFAULT_LEADERBOARD
    ),
) -> AdminLeaderboard:
    """The leaderboard of a referral programme or waitlist, whatever its status, with each
    entry's user id (referral) or signup id (waitlist)."""
    return AdminLeaderboard.model_validate(
        referrals.admin_leaderboard(
            catalog, settings, principal, project_id, campaign_key, limit=limit
        )
    )


@router.get("/{campaign_key}/summary", name="get_campaign_summary")
def get_campaign_summary(
    principal: ManagementPrincipal,
    project_id: str,
    campaign_key: CampaignRef,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Figures of the campaign: per question counts and averages from the lake (surveys),
    signups (waitlists), attributions (referral programmes), what the feed shows (social
    proof)."""
    return campaign_summary(catalog, settings, principal, project_id, campaign_key)
