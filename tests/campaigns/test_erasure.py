"""A GDPR deletion erases the person's campaign rows (referral code, attributions, survey
respondent) on SQLite and PostgreSQL, and on SQLite no catalog file keeps their id."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from growthos_pipeline import gdpr
from growthos_pipeline.campaigns import referrals, surveys
from growthos_pipeline.campaigns.referrals import AttributionRequest, ReferralCodeRequest
from growthos_pipeline.campaigns.surveys import SurveyResponse
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.tables import (
    campaign_attributions,
    campaign_referrers,
    campaign_respondents,
)
from growthos_pipeline.ingest.accept import Ingestor
from growthos_pipeline.settings import Settings
from tests.campaigns.world import project

SUBJECT = "gdpr-campaign-person-5e1d@example.com"


def _counts(catalog: Catalog) -> tuple[int, int, int]:
    with catalog.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (campaign_referrers, campaign_attributions, campaign_respondents)
        )


def test_deletion_erases_campaign_rows(any_catalog: Catalog, any_settings: Settings) -> None:
    p = project(any_catalog, any_settings)
    p.campaign("friends", "referral", {})
    p.campaign("nps", "survey", {"questions": [{"id": "q", "type": "text", "prompt": "?"}]})

    def code(user: str) -> str:
        body = ReferralCodeRequest(user_id=user)
        return str(referrals.referral_code(p.catalog, p.settings, p.id, "friends", body)["code"])

    def attribute(code: str, user: str) -> None:
        body = AttributionRequest(code=code, user_id=user)
        referrals.attribute(p.catalog, p.settings, p.id, "friends", body)

    theirs, other = code(SUBJECT), code("someone-else")
    attribute(theirs, "their-friend")
    attribute(other, SUBJECT)
    attribute(other, "another-friend")
    ingestor = Ingestor(any_settings)
    ingestor.start()
    try:
        body = SurveyResponse(user_id=SUBJECT, device_id="their-phone", answers={"q": "hi"})
        asyncio.run(surveys.submit_response(p.catalog, p.settings, ingestor, p.id, "nps", body, {}))
    finally:
        ingestor.stop()
    assert _counts(any_catalog) == (2, 3, 2)
    files = sorted(any_settings.data_dir.glob("catalog.db*"))
    if any_catalog.dialect == "sqlite":
        assert any(SUBJECT.encode() in path.read_bytes() for path in files)

    job = gdpr.delete_user(any_settings, any_catalog, p.id, SUBJECT)

    assert job["status"] == "completed", job
    # Their code and its attribution, their own attribution, both respondent hashes.
    assert job["counts"]["campaign_rows_deleted"] == 5
    assert _counts(any_catalog) == (1, 1, 0)
    again = surveys.survey_for(p.catalog, p.settings, p.id, "nps", user_id=SUBJECT, device_id=None)
    assert again["eligible"] is True
    for path in files:
        assert SUBJECT.encode() not in path.read_bytes(), path
