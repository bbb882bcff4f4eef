"""The admin's summary of a campaign, whatever its type.

* survey: responses, and per question the answered count, counts per option (choices), the
  average and distribution (ratings) or the most recent answers (text), from the lake;
* waitlist: signups, invited, referred (catalog);
* referral: referrers, referrals and conversions attributed (catalog);
* social proof: whether the feed shows anything now, and how many items.
"""

from __future__ import annotations

from typing import Any

from growthos_pipeline.campaigns import referrals, social_proof, surveys, waitlist
from growthos_pipeline.campaigns.store import managed
from growthos_pipeline.catalog.access import Principal
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.settings import Settings


def campaign_summary(
    catalog: Catalog, settings: Settings, principal: Principal, project_id: str, ref: str
) -> dict[str, Any]:
    """``{"key", "type", "status", ...figures of its type}`` (``query`` or ``admin`` scope)."""
    with catalog.connect() as conn:
        _, campaign = managed(conn, principal, project_id, ref, write=False)
        if campaign.type == "waitlist":
            figures = waitlist.summary(conn, campaign)
        elif campaign.type == "referral":
            figures = referrals.summary(conn, campaign)
        else:
            figures = {}
    if campaign.type == "survey":
        figures = surveys.summary(settings, campaign)
    elif campaign.type == "social_proof":
        figures = social_proof.summary(settings, campaign)
    return {"key": campaign.key, "type": campaign.type, "status": campaign.status, **figures}
