"""A GDPR deletion erases the person's campaign rows (referral code, attributions, survey
respondent, the waitlist signups of a user id that is an email address), and so does the
admin's erasure of one signup, on SQLite and PostgreSQL; on SQLite no catalog file keeps
their id, address or referral code afterwards."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from growthos_pipeline import gdpr
from growthos_pipeline.campaigns import referrals, surveys, waitlist
from growthos_pipeline.campaigns.referrals import AttributionRequest, ReferralCodeRequest
from growthos_pipeline.campaigns.surveys import SurveyResponse
from growthos_pipeline.campaigns.waitlist import WaitlistJoin
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.tables import (
    campaign_attributions,
    campaign_referrers,
    campaign_respondents,
    campaign_signups,
)
from growthos_pipeline.ingest.accept import Ingestor
from growthos_pipeline.settings import Settings
from tests.campaigns.world import Project, project

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


ADDRESS = "Waitlist.Person-9b4e@Example.com"


def _join(p: Project, key: str, email: str, code: object = None) -> dict[str, object]:
    body = WaitlistJoin(email=email, referral_code=None if code is None else str(code))
    return waitlist.join(p.catalog, p.settings, p.id, key, body)[0]


def _signups(catalog: Catalog) -> list[tuple[str, str | None, int]]:
    with catalog.connect() as conn:
        rows = conn.execute(
            select(
                campaign_signups.c.email_key,
                campaign_signups.c.referred_by,
                campaign_signups.c.referrals,
            ).order_by(campaign_signups.c.seq, campaign_signups.c.email_key)
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def _catalog_files_hold(settings: Settings, needles: list[str]) -> list[str]:
    """The needles found (case-insensitively) in the SQLite catalog's files."""
    files = sorted(settings.data_dir.glob("catalog.db*"))
    assert files
    data = b"".join(path.read_bytes() for path in files).lower()
    return [n for n in needles if n.lower().encode() in data]


def test_deleting_a_user_id_that_is_an_address_erases_its_signups(
    any_catalog: Catalog, any_settings: Settings
) -> None:
    p = project(any_catalog, any_settings)
    other = project(any_catalog, any_settings, name="Shop")
    for key in ("beta", "launch"):
        p.campaign(key, "waitlist", {})
    other.campaign("beta", "waitlist", {})
    referrer = _join(p, "beta", "referrer@example.com")
    theirs = _join(p, "beta", ADDRESS, referrer["referral_code"])
    _join(p, "beta", "friend@example.com", theirs["referral_code"])
    second = _join(p, "launch", ADDRESS.lower())
    _join(other, "beta", ADDRESS)
    codes = [str(theirs["referral_code"]), str(second["referral_code"])]
    if any_catalog.dialect == "sqlite":
        assert _catalog_files_hold(any_settings, [ADDRESS, *codes]) == [ADDRESS, *codes]

    job = gdpr.delete_user(any_settings, any_catalog, p.id, ADDRESS.upper())

    assert job["status"] == "completed", job
    assert job["counts"]["campaign_rows_deleted"] == 2
    # The other project's list keeps its signup of the same address.
    assert sorted(_signups(any_catalog)) == sorted(
        [
            ("referrer@example.com", None, 1),
            ("friend@example.com", None, 0),
            (ADDRESS.lower(), None, 0),
        ]
    )
    with any_catalog.connect() as conn:
        left = conn.execute(select(campaign_signups.c.campaign_id)).scalars().all()
    assert len(set(left)) == 2
    if any_catalog.dialect == "sqlite":
        # The other project's row still holds the address; this project's codes are gone.
        assert _catalog_files_hold(any_settings, codes) == []
    plain = gdpr.delete_user(any_settings, any_catalog, p.id, "u-42")
    assert plain["counts"]["campaign_rows_deleted"] == 0


def test_an_erased_signup_leaves_no_copy_in_the_catalog_files(
    any_catalog: Catalog, any_settings: Settings
) -> None:
    p = project(any_catalog, any_settings)
    p.campaign("beta", "waitlist", {})
    for i in range(20):
        _join(p, "beta", f"before-{i}@example.com")
    theirs = _join(p, "beta", ADDRESS)
    for i in range(20):
        _join(p, "beta", f"after-{i}@example.com", theirs["referral_code"] if i == 0 else None)
    needles = [ADDRESS, str(theirs["referral_code"])]
    if any_catalog.dialect == "sqlite":
        assert _catalog_files_hold(any_settings, needles) == needles

    waitlist.delete_signup(any_catalog, p.admin, p.id, "beta", str(theirs["signup_id"]))

    rows = _signups(any_catalog)
    assert len(rows) == 40 and ADDRESS.lower() not in {r[0] for r in rows}
    assert all(r[1] is None for r in rows)
    if any_catalog.dialect == "sqlite":
        assert _catalog_files_hold(any_settings, needles) == []
