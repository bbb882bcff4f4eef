"""Referral programmes: a code per user, signups and conversions attributed to the referrer,
reward thresholds, and a leaderboard.

* ``code``: one per (campaign, user), made on first request and returned again after
  (idempotent); a display name may be given for the leaderboard.
* ``attribute``: the referred user, a code, and ``kind`` (``signup`` or ``conversion``). Each
  referred user counts once per kind (``409 already_attributed``); a conversion goes to the
  referrer of the user's signup (another code: ``409 attribution_conflict``); nobody refers
  themselves (``400 self_referral``); an unknown code is ``404 referral_code_not_found``.
* rewards: the campaign's thresholds on ``referrals`` or ``conversions``; each says whether it
  is ``earned`` and how many are ``remaining``; ``next_reward`` is the unearned one closest to
  being earned.
* the leaderboard ranks by the campaign's ``leaderboard_metric`` (the other counter, then the
  earlier code, break ties) and shows display names or anonymous names, never ids or emails.

Examples
--------
>>> from growthos_pipeline.campaigns.config import ReferralConfig
>>> config = ReferralConfig(rewards=[
...     {"name": "T-shirt", "threshold": 3},
...     {"name": "Pro month", "threshold": 1, "metric": "conversions"}])
>>> rewards, upcoming = reward_progress(config, referrals=2, conversions=0)
>>> [(r["name"], r["earned"], r["remaining"]) for r in rewards]
[('Pro month', False, 1), ('T-shirt', False, 1)]
>>> upcoming["name"]
'Pro month'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from growthos_pipeline.campaigns import abuse, links, waitlist
from growthos_pipeline.campaigns.store import Campaign, active_campaign, managed
from growthos_pipeline.catalog.access import Principal
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.tables import campaign_attributions, campaign_referrers, utcnow
from growthos_pipeline.errors import BadRequest, Conflict, NotFound
from growthos_pipeline.ids import new_id
from growthos_pipeline.settings import Settings

DEFAULT_LEADERBOARD = 10
MAX_LEADERBOARD = 100


class ReferralCodeRequest(BaseModel):
    """``POST /v1/campaigns/{key}/referrals/code``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_id: str = Field(min_length=1, max_length=abuse.MAX_ID)
    #: The name shown on the leaderboard (no email addresses); default: an anonymous name.
    display_name: str | None = Field(default=None, max_length=64)
    #: The page the person is on: the default base of the referral link.
    page_url: str | None = Field(default=None, max_length=2000)


class AttributionRequest(BaseModel):
    """``POST /v1/campaigns/{key}/referrals/attribute``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=32)
    user_id: str = Field(min_length=1, max_length=abuse.MAX_ID)
    kind: Literal["signup", "conversion"] = "signup"


def reward_progress(
    config: Any, *, referrals: int, conversions: int
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Every reward with ``earned`` and ``remaining``, and the next one to earn (or None)."""
    counts = {"referrals": referrals, "conversions": conversions}
    rewards = []
    for reward in config.rewards:
        have = counts[reward.metric]
        rewards.append(
            reward.model_dump(mode="json")
            | {"earned": have >= reward.threshold, "remaining": max(0, reward.threshold - have)}
        )
    pending = [r for r in rewards if not r["earned"]]
    upcoming = min(pending, key=lambda r: (r["remaining"], r["threshold"]), default=None)
    return rewards, upcoming


def _answer(settings: Settings, campaign: Campaign, row: dict[str, Any]) -> dict[str, Any]:
    rewards, upcoming = reward_progress(
        campaign.config, referrals=int(row["referrals"]), conversions=int(row["conversions"])
    )
    base = campaign.config.referral_url or row["link_base"] or settings.public_url
    return {
        "code": row["code"],
        "link": links.referral_link(base, row["code"]),
        "referrals": int(row["referrals"]),
        "conversions": int(row["conversions"]),
        "next_reward": upcoming,
        "rewards": rewards,
        "display_name": row["display_name"],
    }


def _referrer_of(conn: Connection, campaign_id: str, user_id: str) -> dict[str, Any] | None:
    row = (
        conn.execute(
            select(campaign_referrers).where(
                campaign_referrers.c.campaign_id == campaign_id,
                campaign_referrers.c.user_id == user_id,
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


def referral_code(
    catalog: Catalog,
    settings: Settings,
    project_id: str,
    key: str,
    body: ReferralCodeRequest,
    *,
    allowed_origins: Sequence[str] = (),
) -> dict[str, Any]:
    """The user's code, link, counters and rewards (the code is made on the first call)."""
    user_id = abuse.check_identifier(body.user_id, "user_id")
    assert user_id is not None
    display_name = links.check_display_name(body.display_name)
    with catalog.begin() as conn:
        campaign = active_campaign(conn, project_id, key, "referral")
        row = _referrer_of(conn, campaign.id, user_id)
        if row is None:
            row = {
                "id": new_id("rfr"),
                "campaign_id": campaign.id,
                "user_id": user_id,
                "code": _unused_code(conn, campaign.id),
                "display_name": display_name,
                "link_base": waitlist.page_link_base(body.page_url, allowed_origins),
                "referrals": 0,
                "conversions": 0,
                "created_at": utcnow(),
            }
            try:
                with conn.begin_nested():
                    conn.execute(insert(campaign_referrers).values(**row))
            except IntegrityError:  # the same user, at the same moment, on another process
                row = _referrer_of(conn, campaign.id, user_id)
                if row is None:
                    raise
        elif display_name is not None and display_name != row["display_name"]:
            conn.execute(
                update(campaign_referrers)
                .where(campaign_referrers.c.id == row["id"])
                .values(display_name=display_name)
            )
            row["display_name"] = display_name
        return _answer(settings, campaign, row)


def _unused_code(conn: Connection, campaign_id: str) -> str:
    while True:
        code = links.new_code()
        taken = conn.execute(
            select(campaign_referrers.c.id).where(
                campaign_referrers.c.campaign_id == campaign_id, campaign_referrers.c.code == code
            )
        ).first()
        if taken is None:
            return code


def _attribution(conn: Connection, campaign_id: str, user_id: str, kind: str) -> Any:
    return conn.execute(
        select(campaign_attributions.c.referrer_id, campaign_attributions.c.created_at).where(
            campaign_attributions.c.campaign_id == campaign_id,
            campaign_attributions.c.user_id == user_id,
            campaign_attributions.c.kind == kind,
        )
    ).first()


def _already(kind: str, same: bool) -> Conflict:
    whose = "this code" if same else "another code"
    return Conflict(
        "already_attributed",
        f"this user's {kind} is already attributed (to {whose}); each referred user counts "
        "once per kind",
        details=[{"kind": kind, "same_code": same}],
    )


def attribute(
    catalog: Catalog, settings: Settings, project_id: str, key: str, body: AttributionRequest
) -> dict[str, Any]:
    """Attribute the user's signup or conversion to the referrer of ``body.code``."""
    user_id = abuse.check_identifier(body.user_id, "user_id")
    code = links.clean_code(body.code)
    with catalog.begin() as conn:
        campaign = active_campaign(conn, project_id, key, "referral")
        referrer = (
            conn.execute(
                select(campaign_referrers).where(
                    campaign_referrers.c.campaign_id == campaign.id,
                    campaign_referrers.c.code == code,
                )
            )
            .mappings()
            .first()
        )
        if referrer is None:
            raise NotFound(
                "referral_code_not_found", f"no referral code '{body.code[:32]}' in this campaign"
            )
        if referrer["user_id"] == user_id:
            raise BadRequest(
                "self_referral",
                "a user cannot be attributed to their own referral code",
                details=[{"field": "user_id"}],
            )
        earlier = _attribution(conn, campaign.id, str(user_id), body.kind)
        if earlier is not None:
            raise _already(body.kind, earlier[0] == referrer["id"])
        if body.kind == "conversion":
            signup = _attribution(conn, campaign.id, str(user_id), "signup")
            if signup is not None and signup[0] != referrer["id"]:
                raise Conflict(
                    "attribution_conflict",
                    "this user's signup is attributed to another code; their conversion "
                    "goes to the same referrer",
                    details=[{"kind": "conversion"}],
                )
        row = {
            "id": new_id("att"),
            "campaign_id": campaign.id,
            "referrer_id": referrer["id"],
            "user_id": user_id,
            "kind": body.kind,
            "created_at": utcnow(),
        }
        try:
            with conn.begin_nested():
                conn.execute(insert(campaign_attributions).values(**row))
        except IntegrityError:
            raise _already(body.kind, False) from None
        counter = "referrals" if body.kind == "signup" else "conversions"
        conn.execute(
            update(campaign_referrers)
            .where(campaign_referrers.c.id == referrer["id"])
            .values({counter: campaign_referrers.c[counter] + 1})
        )
    return {
        "attribution_id": row["id"],
        "code": referrer["code"],
        "user_id": user_id,
        "kind": body.kind,
        "referrer": referrer["display_name"]
        or links.anonymous_name(settings.server_secret(), campaign.id, referrer["user_id"]),
        "created_at": row["created_at"],
    }


# ---- leaderboards -------------------------------------------------------------------------


def _referral_rows(conn: Connection, campaign: Campaign, limit: int) -> list[dict[str, Any]]:
    c = campaign_referrers.c
    metric = campaign.config.leaderboard_metric
    other = "conversions" if metric == "referrals" else "referrals"
    rows = conn.execute(
        select(c.user_id, c.display_name, c.referrals, c.conversions)
        .where(c.campaign_id == campaign.id, c[metric] > 0)
        .order_by(c[metric].desc(), c[other].desc(), c.id)
        .limit(limit)
    ).mappings()
    return [
        {
            "person": r["user_id"],
            "display_name": r["display_name"],
            "referrals": int(r["referrals"]),
            "conversions": int(r["conversions"]),
        }
        for r in rows
    ]


def _entries(
    settings: Settings, conn: Connection, campaign: Campaign, limit: int, *, admin: bool
) -> dict[str, Any]:
    if not 1 <= limit <= MAX_LEADERBOARD:
        raise BadRequest(
            "invalid_limit", f"limit must be between 1 and {MAX_LEADERBOARD}, found {limit}"
        )
    if campaign.type == "referral":
        rows = _referral_rows(conn, campaign, limit)
        id_field = "user_id"
    elif campaign.type == "waitlist":
        rows = waitlist.leaderboard_rows(conn, campaign, limit)
        id_field = "signup_id"
    else:
        raise NotFound(
            "campaign_type_mismatch",
            f"campaign '{campaign.key}' is a {campaign.type} campaign; leaderboards belong to "
            "referral programmes and waitlists",
        )
    secret = settings.server_secret()
    entries = []
    for rank, row in enumerate(rows, start=1):
        entry = {
            "rank": rank,
            "name": row["display_name"] or links.anonymous_name(secret, campaign.id, row["person"]),
            "referrals": row["referrals"],
            "conversions": row["conversions"],
        }
        if admin:
            entry[id_field] = row["person"]
        entries.append(entry)
    return {"entries": entries}


def leaderboard(
    catalog: Catalog, settings: Settings, project_id: str, key: str, *, limit: int
) -> dict[str, Any]:
    """The public leaderboard of an active referral programme or waitlist."""
    with catalog.connect() as conn:
        campaign = active_campaign(conn, project_id, key)
        return _entries(settings, conn, campaign, limit, admin=False)


def admin_leaderboard(
    catalog: Catalog,
    settings: Settings,
    principal: Principal,
    project_id: str,
    ref: str,
    *,
    limit: int,
) -> dict[str, Any]:
    """The leaderboard of any campaign status for the project's readers, with the user id
    (referral) or signup id (waitlist) of each entry."""
    with catalog.connect() as conn:
        _, campaign = managed(conn, principal, project_id, ref, write=False)
        return _entries(settings, conn, campaign, limit, admin=True)


def summary(conn: Connection, campaign: Campaign) -> dict[str, Any]:
    """Counts of a referral programme: referrers, signups and conversions attributed."""
    c = campaign_referrers.c
    referrers, referrals, conversions = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(c.referrals), 0),
            func.coalesce(func.sum(c.conversions), 0),
        ).where(c.campaign_id == campaign.id)
    ).one()
    return {
        "referrers": int(referrers),
        "referrals": int(referrals),
        "conversions": int(conversions),
    }
