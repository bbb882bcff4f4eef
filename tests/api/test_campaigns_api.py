"""The campaign routes over the real app: the public contract the JS SDK and the web components
build on (shapes, status codes, errors in the envelope), management with pagination, CSV and
Idempotency-Key, finding and erasing a signup (SQLite and PostgreSQL), survey responses through
the ingest path into the lake, per-IP limits, the honeypot, and CORS on the public paths
only."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.orgs import bootstrap
from growthos_pipeline.settings import Settings
from tests.conftest import MakeSettings, auth

WAITLIST: dict[str, Any] = {
    "key": "beta",
    "type": "waitlist",
    "name": "Beta list",
    "status": "active",
    "config": {"title": "Join the beta", "places_per_referral": 5},
}
SURVEY: dict[str, Any] = {
    "key": "nps",
    "type": "survey",
    "name": "NPS",
    "status": "active",
    "config": {
        "title": "Quick question",
        "questions": [
            {
                "id": "score",
                "type": "rating",
                "prompt": "How likely?",
                "min": 0,
                "max": 10,
                "required": True,
            },
            {"id": "why", "type": "text", "prompt": "Why?"},
        ],
        "targeting": {"filter": 'event_type = "purchase"'},
    },
}


def _create(client: TestClient, keys: dict[str, str], body: dict[str, Any]) -> Any:
    response = client.post(
        f"/v1/projects/{keys['project_id']}/campaigns", headers=auth(keys["secret_key"]), json=body
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_public_contract_shapes(client: TestClient, keys: dict[str, str]) -> None:
    _create(client, keys, WAITLIST)
    pk = auth(keys["public_key"])
    campaign = client.get("/v1/campaigns/beta", headers=pk)
    assert campaign.status_code == 200
    body = campaign.json()
    assert {"key", "type", "name", "status", "config"} <= set(body)
    assert body["config"]["title"] == "Join the beta" and "referral_url" not in body["config"]

    joined = client.post(
        "/v1/campaigns/beta/waitlist",
        headers=pk,
        json={
            "email": "ada@example.com",
            "referral_code": None,
            "website": "",
            "page_url": "https://example.com/launch",
        },
    )
    assert joined.status_code == 201, joined.text
    answer = joined.json()
    assert {"signup_id", "position", "total", "referral_code", "referral_link"} <= set(answer)
    assert answer["position"] == 1 and answer["total"] == 1
    assert answer["referral_link"] == f"https://example.com/launch?ref={answer['referral_code']}"
    again = client.post(
        "/v1/campaigns/beta/waitlist", headers=pk, json={"email": "ADA@example.com"}
    )
    assert again.status_code == 200 and again.json() == answer
    # The key in each of its three places.
    for headers, params in (
        ({"Authorization": f"Bearer {keys['public_key']}"}, None),
        ({}, {"key": keys["public_key"]}),
    ):
        status = client.get(
            f"/v1/campaigns/beta/waitlist/{answer['signup_id']}", headers=headers, params=params
        )
        assert status.status_code == 200 and status.json() == answer

    errors = [
        (client.get("/v1/campaigns/nope", headers=pk), 404, "campaign_not_found"),
        (client.get("/v1/campaigns/beta/survey", headers=pk), 404, "campaign_type_mismatch"),
        (
            client.get("/v1/campaigns/beta/waitlist/wl_nope", headers=pk),
            404,
            "signup_not_found",
        ),
        (
            client.post("/v1/campaigns/beta/waitlist", headers=pk, json={"email": "nope"}),
            400,
            "invalid_email",
        ),
        (
            client.post("/v1/campaigns/beta/waitlist", headers=pk, json={"mail": "a@b.io"}),
            422,
            "validation_error",
        ),
        (client.get("/v1/campaigns/beta"), 401, "missing_credentials"),
    ]
    for response, status, code in errors:
        assert response.status_code == status, response.text
        payload = response.json()
        assert payload["error"]["code"] == code and payload["request_id"]


def test_drafts_and_other_projects_are_not_found(
    client: TestClient, keys: dict[str, str], other_keys: dict[str, str]
) -> None:
    _create(client, keys, WAITLIST | {"status": "draft"})
    draft = client.get("/v1/campaigns/beta", headers=auth(keys["public_key"]))
    assert (draft.status_code, draft.json()["error"]["code"]) == (404, "campaign_not_found")
    client.patch(
        f"/v1/projects/{keys['project_id']}/campaigns/beta",
        headers=auth(keys["secret_key"]),
        json={"status": "active"},
    )
    assert client.get("/v1/campaigns/beta", headers=auth(keys["public_key"])).status_code == 200
    foreign = client.get("/v1/campaigns/beta", headers=auth(other_keys["public_key"]))
    assert (foreign.status_code, foreign.json()["error"]["code"]) == (404, "campaign_not_found")


def test_management_pagination_csv_invite_and_idempotency(
    client: TestClient, keys: dict[str, str]
) -> None:
    sk, project = auth(keys["secret_key"]), keys["project_id"]
    first = client.post(
        f"/v1/projects/{project}/campaigns",
        headers=sk | {"Idempotency-Key": "c-1"},
        json=WAITLIST,
    )
    replay = client.post(
        f"/v1/projects/{project}/campaigns",
        headers=sk | {"Idempotency-Key": "c-1"},
        json=WAITLIST,
    )
    assert first.status_code == replay.status_code == 201 and replay.json() == first.json()
    dup = client.post(f"/v1/projects/{project}/campaigns", headers=sk, json=WAITLIST)
    assert (dup.status_code, dup.json()["error"]["code"]) == (409, "campaign_key_taken")
    bad = client.post(
        f"/v1/projects/{project}/campaigns",
        headers=sk,
        json=SURVEY
        | {"key": "bad", "config": {"questions": [{"id": "q", "type": "single", "prompt": "?"}]}},
    )
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_campaign_config")
    assert bad.json()["error"]["details"][0]["field"] == "config.questions.0"

    pk = auth(keys["public_key"])
    ids = [
        client.post("/v1/campaigns/beta/waitlist", headers=pk, json={"email": f"p{i}@x.io"}).json()[
            "signup_id"
        ]
        for i in range(3)
    ]
    seen, cursor = [], None
    while True:
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = client.get(
            f"/v1/projects/{project}/campaigns/beta/signups", headers=sk, params=params
        ).json()
        seen += [s["id"] for s in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert seen == ids
    export = client.get(f"/v1/projects/{project}/campaigns/beta/signups.csv", headers=sk)
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [r["email"] for r in rows] == ["p0@x.io", "p1@x.io", "p2@x.io"]
    invited = client.post(
        f"/v1/projects/{project}/campaigns/beta/signups/{ids[1]}/invite", headers=sk
    )
    assert invited.status_code == 200 and invited.json()["invited_at"]
    forbidden = client.get(f"/v1/projects/{project}/campaigns/beta/signups", headers=pk)
    assert (forbidden.status_code, forbidden.json()["error"]["code"]) == (
        403,
        "insufficient_scope",
    )
    listed = client.get(f"/v1/projects/{project}/campaigns", headers=sk).json()
    assert [c["key"] for c in listed["data"]] == ["beta"]


@pytest.fixture
def any_client(
    any_settings: Settings, any_catalog: Catalog
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    keys = bootstrap(any_catalog, any_settings, org_name="Acme", project_name="Web")
    with TestClient(create_app(any_settings, catalog=any_catalog)) as client:
        yield client, keys


def test_a_signup_is_found_by_email_and_erased(
    any_client: tuple[TestClient, dict[str, str]], any_settings: Settings
) -> None:
    client, keys = any_client
    _create(client, keys, WAITLIST)
    pk, sk = auth(keys["public_key"]), auth(keys["secret_key"])
    signups = f"/v1/projects/{keys['project_id']}/campaigns/beta/signups"

    def join(email: str, code: str | None = None) -> Any:
        body = {"email": email, "referral_code": code, "page_url": "https://example.com/launch"}
        answer = client.post("/v1/campaigns/beta/waitlist", headers=pk, json=body)
        assert answer.status_code == 201, answer.text
        return answer.json()

    first = join("first@example.com")
    erased = join("Erase.Me-41d7@Example.com", first["referral_code"])
    friend = join("friend@example.com", erased["referral_code"])
    behind = join("behind@example.com")
    if any_settings.catalog_url.startswith("sqlite"):
        data = b"".join(p.read_bytes() for p in any_settings.data_dir.glob("catalog.db*"))
        assert b"erase.me-41d7@example.com" in data.lower()

    found = client.get(signups, headers=sk, params={"email": " ERASE.me-41d7@example.COM"})
    assert found.status_code == 200, found.text
    assert [(s["id"], s["email"], s["position"]) for s in found.json()["data"]] == [
        (erased["signup_id"], "Erase.Me-41d7@example.com", 2)
    ]
    bad = client.get(signups, headers=sk, params={"email": "erase.me@"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_email")

    gone = client.delete(f"{signups}/{erased['signup_id']}", headers=sk)
    assert gone.status_code == 204 and gone.content == b""

    again = client.delete(f"{signups}/{erased['signup_id']}", headers=sk)
    assert again.status_code == 404
    assert set(again.json()) == {"error", "request_id"}
    assert again.json()["error"]["code"] == "signup_not_found"
    public = client.get(f"/v1/campaigns/beta/waitlist/{erased['signup_id']}", headers=pk)
    assert (public.status_code, public.json()["error"]["code"]) == (404, "signup_not_found")
    none = client.get(signups, headers=sk, params={"email": "erase.me-41d7@example.com"})
    assert none.json()["data"] == []
    rows = {s["id"]: s for s in client.get(signups, headers=sk).json()["data"]}
    assert [rows[a["signup_id"]]["position"] for a in (first, friend, behind)] == [1, 2, 3]
    assert rows[first["signup_id"]]["referrals"] == 1
    assert rows[friend["signup_id"]]["referred_by"] is None
    export = client.get(f"{signups}.csv", headers=sk).text.lower()
    assert "erase.me" not in export and erased["referral_code"].lower() not in export
    audit = client.get(f"/v1/projects/{keys['project_id']}/audit", headers=sk).json()["data"]
    assert [e["target"] for e in audit if e["action"] == "campaign.delete_signup"] == [
        erased["signup_id"]
    ]
    refused = client.delete(f"{signups}/{friend['signup_id']}", headers=pk)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "insufficient_scope")
    if any_settings.catalog_url.startswith("sqlite"):
        data = b"".join(p.read_bytes() for p in any_settings.data_dir.glob("catalog.db*"))
        assert b"erase.me-41d7@example.com" not in data.lower()
        assert erased["referral_code"].encode() not in data
        assert erased["referral_link"].encode() not in data


def test_survey_response_reaches_the_lake_and_the_summary(
    client: TestClient, keys: dict[str, str]
) -> None:
    _create(client, keys, SURVEY)
    pk, sk = auth(keys["public_key"]), auth(keys["secret_key"])
    client.post("/v1/track", headers=pk, json={"event_type": "purchase", "user_id": "buyer"})
    client.app.state.ingestor.flush_now()  # type: ignore[attr-defined]
    survey = client.get("/v1/campaigns/nps/survey", headers=pk, params={"user_id": "buyer"})
    assert survey.status_code == 200, survey.text
    assert survey.json()["eligible"] is True
    question = survey.json()["questions"][0]
    assert {"id", "type", "prompt", "options", "min", "max", "required"} <= set(question)
    stranger = client.get("/v1/campaigns/nps/survey", headers=pk, params={"user_id": "x"}).json()
    assert (stranger["eligible"], stranger["reason"]) == (False, "not_targeted")

    sent = client.post(
        "/v1/campaigns/nps/responses",
        headers=pk | {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"},
        json={"user_id": "buyer", "answers": {"score": 9, "why": "fast"}, "website": ""},
    )
    assert sent.status_code == 201 and sent.json()["accepted"] is True
    invalid = client.post(
        "/v1/campaigns/nps/responses",
        headers=pk,
        json={"user_id": "buyer", "answers": {"score": 42}},
    )
    assert (invalid.status_code, invalid.json()["error"]["code"]) == (400, "invalid_answers")
    assert invalid.json()["error"]["details"][0]["question"] == "score"
    left_out = client.post(
        "/v1/campaigns/nps/responses", headers=pk, json={"user_id": "x", "answers": {"score": 1}}
    )
    assert left_out.status_code == 403 and set(left_out.json()) == {"error", "request_id"}
    assert left_out.json()["error"]["code"] == "not_targeted"
    client.app.state.ingestor.flush_now()  # type: ignore[attr-defined]
    query = client.post(
        "/v1/query",
        headers=sk,
        json={"q": 'event_type = "survey_response" and prop.campaign = "nps" | count by _browser'},
    )
    assert query.json()["rows"] == [{"_browser": "Firefox", "count": 1}]
    by_score = client.post(
        "/v1/query",
        headers=sk,
        json={
            "q": 'event_type = "survey_response" and prop.campaign = "nps" '
            "| count by prop.answers.score"
        },
    )
    assert by_score.json()["rows"] == [{"prop_answers_score": "9", "count": 1}], by_score.text
    summary = client.get(f"/v1/projects/{keys['project_id']}/campaigns/nps/summary", headers=sk)
    assert summary.status_code == 200
    assert summary.json()["responses"] == 1
    assert summary.json()["questions"][0]["average"] == 9


def test_the_honeypot_is_answered_like_success(client: TestClient, keys: dict[str, str]) -> None:
    _create(client, keys, WAITLIST)
    pk = auth(keys["public_key"])
    bot = client.post(
        "/v1/campaigns/beta/waitlist",
        headers=pk,
        json={"email": "bot@example.com", "website": "https://spam.example"},
    )
    assert bot.status_code == 201 and bot.json()["position"] == 1
    signups = client.get(
        f"/v1/projects/{keys['project_id']}/campaigns/beta/signups",
        headers=auth(keys["secret_key"]),
    ).json()
    assert signups["data"] == []


@pytest.fixture
def limited(make_settings: MakeSettings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = make_settings(
        rate_limits_enabled=True,
        campaign_ip_write_limit=3,
        campaign_ip_read_limit=5,
        campaign_ip_window_s=60,
        cors_allow_origins="https://shop.example",
    )
    catalog = Catalog.open(settings)
    keys = bootstrap(catalog, settings, org_name="Acme", project_name="Web")
    with TestClient(create_app(settings, catalog=catalog)) as client:
        yield client, keys
    catalog.dispose()


def test_per_ip_limits_on_public_endpoints(limited: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = limited
    _create(client, keys, WAITLIST)
    pk = auth(keys["public_key"])
    statuses = [
        client.post("/v1/campaigns/beta/waitlist", headers=pk, json={"email": f"u{i}@x.io"})
        for i in range(4)
    ]
    assert [r.status_code for r in statuses] == [201, 201, 201, 429]
    refused = statuses[-1]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["x-ratelimit-limit"] == "3"
    assert statuses[0].headers["x-ratelimit-remaining"] == "2"
    # Reads have their own budget; ingest through /v1/track is not limited per address.
    assert client.get("/v1/campaigns/beta", headers=pk).status_code == 200
    assert (
        client.post("/v1/track", headers=pk, json={"event_type": "x", "user_id": "u"}).status_code
        == 200
    )


def test_cors_on_public_paths_only(limited: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = limited
    _create(client, keys, WAITLIST)
    shop = {"Origin": "https://shop.example"}
    preflight = client.options(
        "/v1/campaigns/beta/waitlist",
        headers=shop
        | {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-api-key",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in preflight.headers
    simple = client.get("/v1/campaigns/beta", headers=auth(keys["public_key"]) | shop)
    assert simple.headers["access-control-allow-origin"] == "https://shop.example"
    assert "X-Request-Id" in simple.headers["access-control-expose-headers"]
    other = client.get(
        "/v1/campaigns/beta", headers=auth(keys["public_key"]) | {"Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in other.headers
    refused = client.options(
        "/v1/track",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert refused.status_code == 400
    no_origin = client.get("/v1/campaigns/beta", headers=auth(keys["public_key"]))
    assert "access-control-allow-origin" not in no_origin.headers
    management = client.get(
        f"/v1/projects/{keys['project_id']}/campaigns", headers=auth(keys["secret_key"]) | shop
    )
    assert management.status_code == 200
    assert "access-control-allow-origin" not in management.headers


def test_cors_allows_any_origin_by_default(client: TestClient, keys: dict[str, str]) -> None:
    _create(client, keys, WAITLIST)
    answer = client.post(
        "/v1/campaigns/beta/waitlist",
        headers=auth(keys["public_key"]) | {"Origin": "https://anywhere.example"},
        json={"email": "a@example.com"},
    )
    assert answer.status_code == 201
    assert answer.headers["access-control-allow-origin"] == "*"
