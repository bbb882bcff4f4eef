"""The public campaign endpoints that web components and the JS SDK call: a project key with
the ``track`` scope (the public key ``pk_``, as for ingest), sent in ``X-API-Key``,
``Authorization: Bearer`` or ``?key=``. The campaign is looked up by its key within the key's
project; one that is unknown or not active answers ``404 campaign_not_found``.

Abuse controls: the key's ingest rate limit, a per-IP limit per project for reads and one for
writes (``GROWTHOS_CAMPAIGN_IP_*``), the ``website`` honeypot (filled in: a success answer and
nothing stored), email syntax checks, and size limits on every field (docs/campaigns.md).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from api.deps import CatalogDep, IngestPrincipal, LimiterDep, SettingsDep, require_feature
from api.schemas import error_responses
from growthos_pipeline.campaigns import referrals, social_proof, store, surveys, waitlist
from growthos_pipeline.campaigns.referrals import AttributionRequest, ReferralCodeRequest
from growthos_pipeline.campaigns.surveys import SurveyResponse
from growthos_pipeline.campaigns.waitlist import WaitlistJoin
from growthos_pipeline.catalog.access import require_ingest
from growthos_pipeline.errors import RateLimited
from growthos_pipeline.ingest.accept import Ingestor

router = APIRouter(
    prefix="/campaigns/{campaign_key}",
    tags=["campaigns (public)"],
    dependencies=[require_feature("campaigns")],
    responses=error_responses(400, 401, 403, 404, 413, 422, 429, 503),
)

CampaignKey = Annotated[
    str, Path(max_length=64, description="The campaign's key, as set when it was created")
]


@dataclass(frozen=True)
class Visitor:
    """A public caller: the project of its key, and the origins that key is allowed on."""

    project_id: str
    allowed_origins: tuple[str, ...]


def _visitor(kind: Literal["read", "write"]) -> Callable[..., Coroutine[Any, Any, Visitor]]:
    async def dependency(
        request: Request, principal: IngestPrincipal, settings: SettingsDep, limiter: LimiterDep
    ) -> Visitor:
        project_id = require_ingest(principal, request.headers.get("origin"))
        if settings.rate_limits_enabled:
            limit = (
                settings.campaign_ip_write_limit
                if kind == "write"
                else settings.campaign_ip_read_limit
            )
            address = request.client.host if request.client else "unknown"
            window = settings.campaign_ip_window_s
            decision = await limiter.hit(
                f"campaign-ip:{project_id}:{address}:{kind}", limit, "ingest", window_s=window
            )
            known = getattr(request.state, "rate_limit", None)
            if known is None or decision.remaining < known.remaining:
                request.state.rate_limit = decision
            if not decision.allowed:
                raise RateLimited(
                    "rate_limited",
                    f"more than {limit} campaign {kind}s in {window} s from this address; "
                    "retry after the window resets",
                    headers=decision.headers(),
                )
        return Visitor(project_id, principal.allowed_origins)

    return dependency


Reader = Annotated[Visitor, Depends(_visitor("read"))]
Writer = Annotated[Visitor, Depends(_visitor("write"))]


# ---- answers ------------------------------------------------------------------------------


class PublicCampaign(BaseModel):
    key: str
    type: Literal["waitlist", "referral", "survey", "social_proof"]
    name: str
    status: str
    config: dict[str, Any] = Field(description="The public part of the campaign's config")


class WaitlistPosition(BaseModel):
    signup_id: str
    position: int = Field(description="1-based place in the waitlist order")
    total: int = Field(description="Signups on the waitlist")
    referral_code: str
    referral_link: str
    referrals: int = Field(description="Signups that came with this signup's code")
    invited: bool


class Reward(BaseModel):
    name: str
    threshold: int
    metric: Literal["referrals", "conversions"]
    description: str | None
    earned: bool
    remaining: int


class ReferralCode(BaseModel):
    code: str
    link: str
    referrals: int
    conversions: int
    next_reward: Reward | None
    rewards: list[Reward]
    display_name: str | None


class Attribution(BaseModel):
    attribution_id: str
    code: str
    user_id: str
    kind: Literal["signup", "conversion"]
    referrer: str = Field(description="The referrer's display name (never an id or email)")
    created_at: datetime


class LeaderboardEntry(BaseModel):
    rank: int
    name: str = Field(description="A display name or an anonymous name; never an email")
    referrals: int
    conversions: int


class Leaderboard(BaseModel):
    entries: list[LeaderboardEntry]


class Question(BaseModel):
    id: str
    type: Literal["single", "multiple", "rating", "text"]
    prompt: str
    options: list[str]
    min: int | None
    max: int | None
    required: bool
    max_length: int | None = None


class Survey(BaseModel):
    eligible: bool
    reason: Literal["already_responded", "not_targeted"] | None
    questions: list[Question]


class ResponseAccepted(BaseModel):
    accepted: bool
    response_id: str


class FeedItem(BaseModel):
    text: str
    event_type: str
    place: str | None
    seconds_ago: int


class Feed(BaseModel):
    items: list[FeedItem]


# ---- routes -------------------------------------------------------------------------------


@router.get("", name="get_public_campaign")
def get_public_campaign(
    visitor: Reader, campaign_key: CampaignKey, catalog: CatalogDep
) -> PublicCampaign:
    """An active campaign: its type, name and the public part of its configuration."""
    return PublicCampaign.model_validate(
        store.public_campaign(catalog, visitor.project_id, campaign_key)
    )


@router.post("/waitlist", name="join_waitlist", status_code=201)
def join_waitlist(
    visitor: Writer,
    campaign_key: CampaignKey,
    body: WaitlistJoin,
    response: Response,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> WaitlistPosition:
    """Sign up: 201 with the place and referral link; 200 with the same answer for an email
    already on the list."""
    answer, created = waitlist.join(
        catalog,
        settings,
        visitor.project_id,
        campaign_key,
        body,
        allowed_origins=visitor.allowed_origins,
    )
    response.status_code = 201 if created else 200
    return WaitlistPosition.model_validate(answer)


@router.get("/waitlist/{signup_id}", name="get_waitlist_position")
def get_waitlist_position(
    visitor: Reader,
    campaign_key: CampaignKey,
    signup_id: Annotated[str, Path(max_length=40)],
    catalog: CatalogDep,
    settings: SettingsDep,
) -> WaitlistPosition:
    """A signup's current place (``404 signup_not_found``)."""
    return WaitlistPosition.model_validate(
        waitlist.signup_status(catalog, settings, visitor.project_id, campaign_key, signup_id)
    )


@router.post("/referrals/code", name="get_referral_code")
def get_referral_code(
    visitor: Writer,
    campaign_key: CampaignKey,
    body: ReferralCodeRequest,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> ReferralCode:
    """The user's referral code and link (made on the first call), counters and rewards."""
    return ReferralCode.model_validate(
        referrals.referral_code(
            catalog,
            settings,
            visitor.project_id,
            campaign_key,
            body,
            allowed_origins=visitor.allowed_origins,
        )
    )


@router.post("/referrals/attribute", name="attribute_referral", responses=error_responses(409))
def attribute_referral(
    visitor: Writer,
    campaign_key: CampaignKey,
    body: AttributionRequest,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> Attribution:
    """Attribute a user's signup or conversion to a code's referrer (``400 self_referral``,
    ``409 already_attributed``, ``409 attribution_conflict``, ``404
    referral_code_not_found``)."""
    return Attribution.model_validate(
        referrals.attribute(catalog, settings, visitor.project_id, campaign_key, body)
    )


@router.get("/leaderboard", name="get_public_leaderboard")
def get_public_leaderboard(
    visitor: Reader,
    campaign_key: CampaignKey,
    catalog: CatalogDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=referrals.MAX_LEADERBOARD)] = (
        referrals.DEFAULT_LEADERBOARD
    ),
) -> Leaderboard:
    """The top referrers of a referral programme (or waitlist), by display or anonymous
    name."""
    return Leaderboard.model_validate(
        referrals.leaderboard(catalog, settings, visitor.project_id, campaign_key, limit=limit)
    )


@router.get("/survey", name="get_survey")
def get_survey(
    visitor: Reader,
    campaign_key: CampaignKey,
    catalog: CatalogDep,
    settings: SettingsDep,
    user_id: Annotated[str | None, Query(max_length=255)] = None,
    device_id: Annotated[str | None, Query(max_length=255)] = None,
) -> Survey:
    """Whether this person should see the survey (targeting, one response each), and its
    questions."""
    return Survey.model_validate(
        surveys.survey_for(
            catalog,
            settings,
            visitor.project_id,
            campaign_key,
            user_id=user_id,
            device_id=device_id,
        )
    )


@router.post(
    "/responses",
    name="submit_survey_response",
    status_code=201,
    responses=error_responses(403, 409),
)
async def submit_survey_response(
    visitor: Writer,
    campaign_key: CampaignKey,
    body: SurveyResponse,
    request: Request,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> ResponseAccepted:
    """Answers, validated per question type and ingested as a ``survey_response`` event;
    the answer comes once the event is fsynced."""
    ingestor: Ingestor = request.app.state.ingestor
    return ResponseAccepted.model_validate(
        await surveys.submit_response(
            catalog,
            settings,
            ingestor,
            visitor.project_id,
            campaign_key,
            body,
            request.headers,
        )
    )


@router.get("/feed", name="get_social_proof_feed")
def get_social_proof_feed(
    visitor: Reader,
    campaign_key: CampaignKey,
    response: Response,
    catalog: CatalogDep,
    settings: SettingsDep,
    limit: Annotated[int | None, Query(ge=1, le=social_proof.MAX_LIMIT)] = None,
) -> Feed:
    """Recent anonymised activity, newest first, under the campaign's privacy controls."""
    feed = social_proof.feed(catalog, settings, visitor.project_id, campaign_key, limit=limit)
    response.headers["Cache-Control"] = f"public, max-age={feed.max_age}"
    return Feed(items=[FeedItem.model_validate(item) for item in feed.items])
