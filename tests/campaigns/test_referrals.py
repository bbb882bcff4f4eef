"""Referral programmes on SQLite and on PostgreSQL: one code per user, attribution rules,
rewards, and a leaderboard that never shows an id."""

from __future__ import annotations

import pytest

from growthos_pipeline.campaigns import referrals
from growthos_pipeline.campaigns.referrals import AttributionRequest, ReferralCodeRequest
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.errors import BadRequest, Conflict, NotFound
from growthos_pipeline.settings import Settings
from tests.campaigns.world import Project, project

CONFIG = {
    "referral_url": "https://example.com/invite",
    "rewards": [
        {"name": "Mug", "threshold": 1},
        {"name": "Pro month", "threshold": 1, "metric": "conversions"},
        {"name": "Hoodie", "threshold": 3},
    ],
}


def _code(p: Project, user_id: str, **fields: object) -> dict[str, object]:
    body = ReferralCodeRequest(user_id=user_id, **fields)
    return referrals.referral_code(p.catalog, p.settings, p.id, "friends", body)


def _attribute(p: Project, code: object, user_id: str, kind: str = "signup") -> dict[str, object]:
    body = AttributionRequest(code=str(code), user_id=user_id, kind=kind)
    return referrals.attribute(p.catalog, p.settings, p.id, "friends", body)


def test_codes_attribution_and_rewards(any_catalog: Catalog, any_settings: Settings) -> None:
    p = project(any_catalog, any_settings)
    p.campaign("friends", "referral", CONFIG)
    ada = _code(p, "ada")
    assert _code(p, "ada") == ada  # idempotent per user
    assert ada["link"] == f"https://example.com/invite?ref={ada['code']}"
    assert ada["next_reward"] is not None and ada["next_reward"]["name"] == "Pro month"

    made = _attribute(p, str(ada["code"]).lower(), "bob")
    assert made["kind"] == "signup" and "ada" not in str(made)
    with pytest.raises(Conflict) as twice:
        _attribute(p, ada["code"], "bob")
    assert twice.value.code == "already_attributed" and twice.value.details[0]["same_code"]
    grace = _code(p, "grace")
    with pytest.raises(Conflict) as other:
        _attribute(p, grace["code"], "bob")
    assert other.value.code == "already_attributed" and not other.value.details[0]["same_code"]
    with pytest.raises(Conflict) as conflict:
        _attribute(p, grace["code"], "bob", "conversion")
    assert conflict.value.code == "attribution_conflict"
    _attribute(p, ada["code"], "bob", "conversion")
    with pytest.raises(BadRequest) as self_referral:
        _attribute(p, ada["code"], "ada")
    assert self_referral.value.code == "self_referral"
    with pytest.raises(NotFound) as unknown:
        _attribute(p, "ZZZZZZZZ", "carol")
    assert unknown.value.code == "referral_code_not_found"

    now = _code(p, "ada")
    assert (now["referrals"], now["conversions"]) == (1, 1)
    earned = {r["name"]: r["earned"] for r in now["rewards"]}  # type: ignore[attr-defined]
    assert earned == {"Mug": True, "Pro month": True, "Hoodie": False}
    assert now["next_reward"] == {
        "name": "Hoodie",
        "threshold": 3,
        "metric": "referrals",
        "description": None,
        "earned": False,
        "remaining": 2,
    }


def test_leaderboard_ranks_and_never_shows_ids(
    any_catalog: Catalog, any_settings: Settings
) -> None:
    p = project(any_catalog, any_settings)
    p.campaign("friends", "referral", CONFIG)
    counts = {"user-a@example.com": 1, "user-b": 3, "user-c": 2, "user-d": 0}
    for user, n in counts.items():
        code = _code(p, user)["code"]
        for i in range(n):
            _attribute(p, code, f"{user}-friend-{i}")
    _code(p, "user-c", display_name="  Charlie   C ")
    board = referrals.leaderboard(p.catalog, p.settings, p.id, "friends", limit=10)
    entries = board["entries"]
    assert [(e["rank"], e["referrals"]) for e in entries] == [(1, 3), (2, 2), (3, 1)]
    assert entries[1]["name"] == "Charlie C"
    assert not any("user-" in e["name"] or "@" in e["name"] for e in entries)
    assert (
        entries[0]["name"]
        == referrals.leaderboard(p.catalog, p.settings, p.id, "friends", limit=1)["entries"][0][
            "name"
        ]
    )  # stable
    admin = referrals.admin_leaderboard(p.catalog, p.settings, p.admin, p.id, "friends", limit=2)
    assert [e["user_id"] for e in admin["entries"]] == ["user-b", "user-c"]
    with pytest.raises(BadRequest) as email_name:
        _code(p, "user-d", display_name="me@example.com")
    assert email_name.value.code == "invalid_display_name"
