"""Campaigns in the catalog, on SQLite and on PostgreSQL: validation per type, keys, updates
that merge the configuration, deletion with everything hanging off a campaign."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from growthos_pipeline.campaigns import store, waitlist
from growthos_pipeline.campaigns.config import CampaignCreate, CampaignUpdate
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.tables import audit_log, campaign_signups
from growthos_pipeline.errors import BadRequest, Conflict, NotFound
from growthos_pipeline.settings import Settings
from tests.campaigns.world import project


def test_create_validates_the_config_of_its_type(
    any_catalog: Catalog, any_settings: Settings
) -> None:
    p = project(any_catalog, any_settings)
    cases = [
        ("survey", {"questions": []}, "config.questions"),
        (
            "survey",
            {"questions": [{"id": "q", "type": "rating", "prompt": "?", "min": 5, "max": 1}]},
            "config.questions.0",
        ),
        ("social_proof", {"event_types": ["signup"], "template": "{user_id}"}, "config.template"),
        ("waitlist", {"referral_url": "javascript:alert(1)"}, "config.referral_url"),
        ("referral", {"rewards": [{"name": "Mug", "threshold": 0}]}, "config.rewards.0.threshold"),
        ("waitlist", {"places": 5}, "config.places"),
    ]
    for kind, config, field in cases:
        with pytest.raises(BadRequest) as err:
            p.campaign("c", kind, config)
        assert err.value.code == "invalid_campaign_config"
        assert err.value.details[0]["field"] == field, err.value.details
    with pytest.raises(BadRequest) as bad_filter:
        p.campaign("c", "survey", _survey({"filter": 'event_type = "x" |'}))
    assert bad_filter.value.code == "invalid_targeting_filter"
    assert bad_filter.value.details[0]["field"] == "config.targeting.filter"
    assert "column" in bad_filter.value.details[0]
    with pytest.raises(BadRequest) as segment:
        p.campaign("c", "survey", _survey({"segment_id": "seg_nope"}))
    assert segment.value.code == "unknown_segment"
    with pytest.raises(ValidationError):
        CampaignCreate(key="Not A Key", type="waitlist", name="x")


def _survey(targeting: dict[str, object]) -> dict[str, object]:
    return {
        "questions": [{"id": "q", "type": "text", "prompt": "?"}],
        "targeting": targeting,
    }


def test_keys_updates_and_deletion(any_catalog: Catalog, any_settings: Settings) -> None:
    p = project(any_catalog, any_settings)
    made = p.campaign("beta", "waitlist", {"title": "Beta", "places_per_referral": 3})
    with pytest.raises(Conflict) as dup:
        p.campaign("beta", "survey", _survey({}))
    assert dup.value.code == "campaign_key_taken"
    other = project(any_catalog, any_settings, "Shop")
    assert other.campaign("beta", "waitlist", {})["project_id"] == other.id  # per project

    updated = store.update_campaign(
        any_catalog, p.admin, p.id, "beta", CampaignUpdate(config={"description": "Soon"})
    )
    assert updated["config"]["title"] == "Beta" and updated["config"]["places_per_referral"] == 3
    assert updated["config"]["description"] == "Soon"
    with pytest.raises(BadRequest) as invalid:
        store.update_campaign(
            any_catalog,
            p.admin,
            p.id,
            made["id"],
            CampaignUpdate(config={"places_per_referral": -1}),
        )
    assert invalid.value.details[0]["field"] == "config.places_per_referral"
    with pytest.raises(ValidationError):
        CampaignUpdate.model_validate({"type": "survey"})

    waitlist.join(
        any_catalog, any_settings, p.id, "beta", waitlist.WaitlistJoin(email="a@example.com")
    )
    deleted = store.delete_campaign(any_catalog, p.admin, p.id, "beta")
    assert deleted["deleted"] is True
    with any_catalog.connect() as conn:
        left = conn.execute(select(func.count()).select_from(campaign_signups)).scalar_one()
        actions = conn.execute(
            select(audit_log.c.action).where(audit_log.c.project_id == p.id)
        ).scalars()
        assert left == 0
        assert {"campaign.create", "campaign.update", "campaign.delete"} <= set(actions)
    with pytest.raises(NotFound):
        store.get_campaign(any_catalog, p.admin, p.id, "beta")


def test_only_active_campaigns_are_public(any_catalog: Catalog, any_settings: Settings) -> None:
    p = project(any_catalog, any_settings)
    p.campaign("nps", "survey", _survey({"filter": 'event_type = "x"'}), status="draft")
    with pytest.raises(NotFound) as draft:
        store.public_campaign(any_catalog, p.id, "nps")
    assert draft.value.code == "campaign_not_found"
    store.update_campaign(any_catalog, p.admin, p.id, "nps", CampaignUpdate(status="active"))
    public = store.public_campaign(any_catalog, p.id, "nps")
    assert "targeting" not in public["config"] and public["config"]["questions"][0]["id"] == "q"
    with pytest.raises(NotFound) as mismatch:
        waitlist.join(
            any_catalog, any_settings, p.id, "nps", waitlist.WaitlistJoin(email="a@example.com")
        )
    assert mismatch.value.code == "campaign_type_mismatch"
