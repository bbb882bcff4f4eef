"""Waitlists on SQLite and on PostgreSQL: positions by the documented ordering rule (the SQL
of one position, the SQL of the whole list and the reference in Python agree), deduplication,
referrals, the honeypot, concurrent signups, the admin's list (and finding one address),
export, invitations and erasing a signup."""

from __future__ import annotations

import csv
import io
import random
import threading

import pytest
from sqlalchemy import func, select

from growthos_pipeline.campaigns import waitlist
from growthos_pipeline.campaigns.waitlist import WaitlistJoin
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.tables import audit_log, campaign_signups
from growthos_pipeline.errors import BadRequest, NotFound
from growthos_pipeline.settings import Settings
from tests.campaigns.world import Project, project


def _join(p: Project, email: str, **fields: object) -> tuple[dict[str, object], bool]:
    return waitlist.join(p.catalog, p.settings, p.id, "beta", WaitlistJoin(email=email, **fields))


def test_a_referral_moves_the_referrer_up_by_the_configured_places(
    any_catalog: Catalog, any_settings: Settings
) -> None:
    p = project(any_catalog, any_settings)
    p.campaign("beta", "waitlist", {"places_per_referral": 5})
    answers = [_join(p, f"p{i}@example.com")[0] for i in range(1, 8)]
    assert [a["position"] for a in answers] == [1, 2, 3, 4, 5, 6, 7]
    seventh = answers[6]
    referred, created = _join(p, "friend@example.com", referral_code=seventh["referral_code"])
    assert created and referred["position"] == 8 and referred["total"] == 8
    now = waitlist.signup_status(p.catalog, p.settings, p.id, "beta", str(seventh["signup_id"]))
    assert (now["position"], now["referrals"]) == (2, 1)  # 7th -> 2nd: five places
    second = waitlist.signup_status(
        p.catalog, p.settings, p.id, "beta", str(answers[1]["signup_id"])
    )
    assert second["position"] == 3


def test_positions_follow_the_rule_in_sql_and_in_python(
    any_catalog: Catalog, any_settings: Settings
) -> None:
    p = project(any_catalog, any_settings)
    p.campaign("beta", "waitlist", {"places_per_referral": 3})
    rng = random.Random(7)
    answers: list[dict[str, object]] = []
    for i in range(40):
        code = str(rng.choice(answers)["referral_code"]) if answers and rng.random() < 0.5 else None
        answers.append(_join(p, f"p{i}@example.com", referral_code=code)[0])
    with any_catalog.connect() as conn:
        rows = conn.execute(
            select(campaign_signups.c.id, campaign_signups.c.seq, campaign_signups.c.referrals)
        ).all()
    seq_of = {r[0]: (r[1], r[2]) for r in rows}
    expected = waitlist.order(list(seq_of.values()), places_per_referral=3)
    rank = {pair: i + 1 for i, pair in enumerate(expected)}
    listed = waitlist.list_signups(any_catalog, p.admin, p.id, "beta", cursor=None, limit=100)
    assert len(listed.data) == 40
    for signup in listed.data:
        assert signup["position"] == rank[seq_of[signup["id"]]]
        single = waitlist.signup_status(any_catalog, any_settings, p.id, "beta", signup["id"])
        assert single["position"] == signup["position"] and single["total"] == 40


def test_an_address_signs_up_once(any_catalog: Catalog, any_settings: Settings) -> None:
    p = project(any_catalog, any_settings)
    p.campaign("beta", "waitlist", {})
    first, created = _join(p, "Ada.Lovelace@Example.com", page_url="https://example.com/x?a=1")
    assert (
        created
        and first["referral_link"] == f"https://example.com/x?a=1&ref={first['referral_code']}"
    )
    referrer, _ = _join(p, "grace@example.com")
    again, created_again = _join(
        p, " ada.lovelace@EXAMPLE.COM", referral_code=str(referrer["referral_code"])
    )
    assert not created_again and again == first | {"total": 2}
    status = waitlist.signup_status(p.catalog, p.settings, p.id, "beta", str(referrer["signup_id"]))
    assert status["referrals"] == 0  # a repeat signup counts for nobody
    unknown_code, created_unknown = _join(p, "lin@example.com", referral_code="NOPE0000")
    assert created_unknown and unknown_code["position"] == 3
    for bad in ("ada@", "no-at-sign", "a@b", "a@localhost", "a b@example.com"):
        with pytest.raises(BadRequest) as err:
            _join(p, bad)
        assert err.value.code == "invalid_email"


def test_the_honeypot_answers_like_success_and_stores_nothing(
    any_catalog: Catalog, any_settings: Settings
) -> None:
    p = project(any_catalog, any_settings)
    p.campaign("beta", "waitlist", {})
    real, _ = _join(p, "ada@example.com")
    decoy, created = _join(p, "bot@example.com", website="https://spam.example")
    assert created and decoy["position"] == 2 and set(decoy) == set(real)
    _join(p, "bot2@example.com", website="x", referral_code=str(real["referral_code"]))
    with any_catalog.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(campaign_signups)).scalar_one()
    assert stored == 1
    status = waitlist.signup_status(p.catalog, p.settings, p.id, "beta", str(real["signup_id"]))
    assert (status["total"], status["referrals"]) == (1, 0)
    with pytest.raises(NotFound):
        waitlist.signup_status(p.catalog, p.settings, p.id, "beta", str(decoy["signup_id"]))


def test_concurrent_signups_get_distinct_places(
    any_catalog: Catalog, any_settings: Settings
) -> None:
    p = project(any_catalog, any_settings)
    p.campaign("beta", "waitlist", {})
    results: list[int] = []
    errors: list[BaseException] = []

    def sign_up(i: int) -> None:
        try:
            results.append(int(_join(p, f"c{i}@example.com")[0]["position"]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sign_up, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with any_catalog.connect() as conn:
        seqs = sorted(conn.execute(select(campaign_signups.c.seq)).scalars())
    assert seqs == list(range(1, 13)) and sorted(results) == list(range(1, 13))


def test_admin_list_export_and_invite(any_catalog: Catalog, any_settings: Settings) -> None:
    p = project(any_catalog, any_settings)
    p.campaign("beta", "waitlist", {"places_per_referral": 1})
    first, _ = _join(p, "=cmd@example.com")
    second, _ = _join(p, "b@example.com")
    _join(p, "c@example.com", referral_code=str(second["referral_code"]))
    page = waitlist.list_signups(any_catalog, p.admin, p.id, "beta", cursor=None, limit=2)
    assert [s["email"] for s in page.data] == ["=cmd@example.com", "b@example.com"]
    assert page.has_more and page.next_cursor
    rest = waitlist.list_signups(
        any_catalog, p.admin, p.id, "beta", cursor=page.next_cursor, limit=2
    )
    assert [s["email"] for s in rest.data] == ["c@example.com"] and not rest.has_more

    text = "".join(waitlist.export_signups(any_catalog, p.admin, p.id, "beta"))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["email"] for r in rows] == ["b@example.com", "'=cmd@example.com", "c@example.com"]
    assert [r["position"] for r in rows] == ["1", "2", "3"]

    invited = waitlist.invite(any_catalog, p.admin, p.id, "beta", str(first["signup_id"]))
    assert invited["invited_at"] is not None and invited["position"] == 2
    again = waitlist.invite(any_catalog, p.admin, p.id, "beta", str(first["signup_id"]))
    assert again["invited_at"] == invited["invited_at"]
    status = waitlist.signup_status(p.catalog, p.settings, p.id, "beta", str(first["signup_id"]))
    assert status["invited"] is True and status["position"] == 2
    with pytest.raises(NotFound):
        waitlist.invite(any_catalog, p.admin, p.id, "beta", "wl_unknown")


def _positions(p: Project) -> dict[str, int]:
    listed = waitlist.list_signups(p.catalog, p.admin, p.id, "beta", cursor=None, limit=100)
    return {str(s["email"]): int(s["position"]) for s in listed.data}


def test_an_admin_finds_a_signup_by_its_address(
    any_catalog: Catalog, any_settings: Settings
) -> None:
    p = project(any_catalog, any_settings)
    p.campaign("beta", "waitlist", {"places_per_referral": 5})
    answers = [_join(p, f"p{i}@example.com")[0] for i in range(1, 7)]
    _join(p, "Ada.Lovelace@Example.com", referral_code=str(answers[0]["referral_code"]))

    def find(email: str) -> list[dict[str, object]]:
        return waitlist.list_signups(
            any_catalog, p.admin, p.id, "beta", cursor=None, limit=10, email=email
        ).data

    found = find("  ADA.lovelace@EXAMPLE.com ")
    assert [(s["email"], s["position"]) for s in found] == [("Ada.Lovelace@example.com", 7)]
    # The position is the one in the whole list, not within the filtered rows.
    assert [s["position"] for s in find("p6@example.com")] == [6]
    assert find("nobody@example.com") == []
    with pytest.raises(BadRequest) as err:
        find("ada@")
    assert err.value.code == "invalid_email"


def test_erasing_a_signup(any_catalog: Catalog, any_settings: Settings) -> None:
    """The row goes with its address and code; its referrer keeps the referral; the signups
    it referred keep their places and lose referred_by; those behind it move up one place."""
    p = project(any_catalog, any_settings)
    p.campaign("beta", "waitlist", {"places_per_referral": 2})
    first, _ = _join(p, "first@example.com")
    for i in range(2, 5):
        _join(p, f"p{i}@example.com")
    erased, _ = _join(p, "Erase.Me@Example.com", referral_code=str(first["referral_code"]))
    referred, _ = _join(p, "friend@example.com", referral_code=str(erased["referral_code"]))
    _join(p, "p7@example.com")
    before = _positions(p)
    assert (before["p7@example.com"], before["friend@example.com"]) == (7, 6)

    waitlist.delete_signup(any_catalog, p.admin, p.id, "beta", str(erased["signup_id"]))

    after = _positions(p)
    assert "Erase.Me@example.com" not in after and len(after) == 6
    assert after["p7@example.com"] == 6 and after["friend@example.com"] == 5
    with any_catalog.connect() as conn:
        rows = conn.execute(
            select(
                campaign_signups.c.id,
                campaign_signups.c.seq,
                campaign_signups.c.referrals,
                campaign_signups.c.referred_by,
                campaign_signups.c.email_key,
                campaign_signups.c.referral_code,
            )
        ).all()
        actions = conn.execute(
            select(audit_log.c.target, audit_log.c.details).where(
                audit_log.c.action == "campaign.delete_signup"
            )
        ).all()
    by_id = {r.id: r for r in rows}
    assert by_id[first["signup_id"]].referrals == 1  # the referrer keeps the referral
    assert by_id[referred["signup_id"]].referred_by is None
    assert not [r for r in rows if r.referred_by == erased["signup_id"]]
    assert "erase.me@example.com" not in {r.email_key for r in rows}
    assert erased["referral_code"] not in {r.referral_code for r in rows}
    expected = waitlist.order([(r.seq, r.referrals) for r in rows], places_per_referral=2)
    seq_of = {r.email_key: (r.seq, r.referrals) for r in rows}
    assert {e: expected.index(seq_of[e]) + 1 for e in after} == after
    status = waitlist.signup_status(p.catalog, p.settings, p.id, "beta", str(first["signup_id"]))
    assert (status["referrals"], status["total"]) == (1, 6)
    assert [(t, d) for t, d in actions] == [(erased["signup_id"], {"campaign": "beta"})]

    with pytest.raises(NotFound) as gone:
        waitlist.signup_status(p.catalog, p.settings, p.id, "beta", str(erased["signup_id"]))
    assert gone.value.code == "signup_not_found"
    with pytest.raises(NotFound) as again:
        waitlist.delete_signup(any_catalog, p.admin, p.id, "beta", str(erased["signup_id"]))
    assert again.value.code == "signup_not_found"
    # Its code now names nobody; the address may sign up again, at the end of the list.
    late, created = _join(p, "late@example.com", referral_code=str(erased["referral_code"]))
    assert created and late["position"] == 7
    back, created = _join(p, "erase.me@example.com")
    assert created and back["position"] == 8 and back["signup_id"] != erased["signup_id"]
    p.campaign("friends", "referral", {})
    with pytest.raises(BadRequest) as mismatch:
        waitlist.delete_signup(any_catalog, p.admin, p.id, "friends", str(back["signup_id"]))
    assert mismatch.value.code == "campaign_type_mismatch"
