"""The derived-data routes: usage, segments (CRUD and members) and one user's profile, over a
real app whose events went through ingest, the flusher and the derived builds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.identity import build_identities
from growthos_pipeline.profiles import build_profiles
from growthos_pipeline.segments import build_segment_members
from growthos_pipeline.settings import Settings
from growthos_pipeline.usage import build_usage
from tests.conftest import auth
from tests.derived.world import U1, ingest, story


@pytest.fixture
def project(client: TestClient, keys: dict[str, str], settings: Settings) -> str:
    project_id = keys["project_id"]
    ingest(settings, project_id, story())
    return project_id


def _segment(client: TestClient, key: str, project: str, **body: Any) -> Any:
    return client.post(f"/v1/projects/{project}/segments", headers=auth(key), json=body)


def test_user_profile_with_devices(
    client: TestClient, keys: dict[str, str], project: str, settings: Settings
) -> None:
    url = f"/v1/projects/{project}/users/u1"
    missing = client.get(url, headers=auth(keys["secret_key"]))
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "user_not_found")
    build_identities(settings, project)
    build_profiles(settings, project)
    body = client.get(url, headers=auth(keys["secret_key"])).json()
    assert body["user_id"] == "u1" and body["properties"] == U1
    assert [d["device_id"] for d in body["devices"]] == ["d1", "d2"]
    assert body["first_seen"] <= body["updated_at"] <= body["last_seen"]
    unknown = client.get(f"/v1/projects/{project}/users/nobody", headers=auth(keys["secret_key"]))
    assert unknown.status_code == 404


def test_usage_defaults_to_this_month(
    client: TestClient, keys: dict[str, str], project: str, settings: Settings, catalog: Catalog
) -> None:
    for _ in range(2):
        ran = client.post(
            "/v1/query", json={"q": "last 1d | count"}, headers=auth(keys["secret_key"])
        )
        assert ran.status_code == 200, ran.text
    build_usage(settings, catalog, project)
    response = client.get(f"/v1/projects/{project}/usage", headers=auth(keys["secret_key"]))
    assert response.status_code == 200, response.text
    body = response.json()
    today = datetime.now(UTC).date()
    assert body["from"] == today.replace(day=1).isoformat() and body["to"] == today.isoformat()
    assert len(body["data"]) == today.day
    last = body["data"][-1]
    assert last["day"] == today.isoformat() and last["queries_run"] == 2
    assert last["events_ingested"] >= 7 and body["totals"]["queries_run"] == 2
    assert body["computed_at"] is not None
    admin = client.get(
        f"/v1/admin/projects/{project}/usage",
        headers=auth(keys["admin_key"]),
        params={"from": today.isoformat(), "to": today.isoformat()},
    )
    assert admin.status_code == 200 and admin.json()["data"] == [last]
    bad = client.get(
        f"/v1/projects/{project}/usage",
        headers=auth(keys["secret_key"]),
        params={"from": "2026-02-01", "to": "2026-01-01"},
    )
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_range")
    bad = client.get(
        f"/v1/projects/{project}/usage",
        headers=auth(keys["secret_key"]),
        params={"from": "yesterday"},
    )
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_date")


def test_segment_crud_and_members(
    client: TestClient, keys: dict[str, str], project: str, settings: Settings, catalog: Catalog
) -> None:
    sk = keys["secret_key"]
    bad = _segment(client, sk, project, name="Bad", filter='evnt_type = "purchase"')
    assert bad.status_code == 400
    error = bad.json()["error"]
    assert error["code"] == "invalid_segment_filter" and "event_type" in error["message"]
    assert error["details"][0]["field"] == "filter" and error["details"][0]["column"] == 1
    staged = _segment(client, sk, project, name="Bad", filter='event_type = "x" | count')
    assert staged.json()["error"]["code"] == "invalid_segment_filter"

    buyers = _segment(client, sk, project, name="Buyers", filter='event_type = "purchase"')
    assert buyers.status_code == 201, buyers.text
    seen = _segment(
        client,
        sk,
        project,
        name="Seen",
        filter="_path exists or event_type exists",
        window_days=7,
        description="everyone",
    )
    assert seen.status_code == 201, seen.text
    buyers_id, seen_id = buyers.json()["id"], seen.json()["id"]

    first = client.get(f"/v1/projects/{project}/segments", headers=auth(sk), params={"limit": 1})
    assert first.json()["has_more"] is True and first.json()["data"][0]["id"] == buyers_id
    second = client.get(
        f"/v1/projects/{project}/segments",
        headers=auth(sk),
        params={"limit": 1, "cursor": first.json()["next_cursor"]},
    )
    assert [s["id"] for s in second.json()["data"]] == [seen_id]

    build_segment_members(settings, catalog, project)
    members = client.get(
        f"/v1/projects/{project}/segments/{buyers_id}/members", headers=auth(sk)
    ).json()
    assert [m["user_id"] for m in members["data"]] == ["u1"]
    everyone: list[str] = []
    cursor = None
    while True:
        page = client.get(
            f"/v1/projects/{project}/segments/{seen_id}/members",
            headers=auth(sk),
            params={"limit": 2, **({"cursor": cursor} if cursor else {})},
        ).json()
        everyone += [m["user_id"] for m in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert everyone == ["d3", "u1", "u2"]  # d3 never logged in: counted by device

    patched = client.patch(
        f"/v1/projects/{project}/segments/{buyers_id}",
        headers=auth(sk),
        json={"filter": 'event_type = "purchase" and prop.amount > 100'},
    )
    assert patched.status_code == 200 and patched.json()["updated_at"] > buyers.json()["updated_at"]
    bad_patch = client.patch(
        f"/v1/projects/{project}/segments/{buyers_id}",
        headers=auth(sk),
        json={"filter": "prop.amount >"},
    )
    assert bad_patch.json()["error"]["code"] == "invalid_segment_filter"
    build_segment_members(settings, catalog, project)
    members = client.get(
        f"/v1/projects/{project}/segments/{buyers_id}/members", headers=auth(sk)
    ).json()
    assert members["data"] == []

    gone = client.delete(f"/v1/projects/{project}/segments/{buyers_id}", headers=auth(sk))
    assert gone.status_code == 200 and gone.json()["deleted"] is True
    missing = client.get(f"/v1/projects/{project}/segments/{buyers_id}/members", headers=auth(sk))
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "segment_not_found")


def test_segment_post_honours_idempotency_key(client: TestClient, keys: dict[str, str]) -> None:
    url = f"/v1/projects/{keys['project_id']}/segments"
    headers = {**auth(keys["secret_key"]), "Idempotency-Key": "seg-1"}
    body = {"name": "Once", "filter": 'event_type = "signup"'}
    first = client.post(url, headers=headers, json=body)
    again = client.post(url, headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    listed = client.get(url, headers=auth(keys["secret_key"])).json()["data"]
    assert [s["name"] for s in listed] == ["Once"]
    other = client.post(url, headers=headers, json={**body, "name": "Twice"})
    assert other.status_code == 409


def test_segments_of_another_project_are_not_found(
    client: TestClient, keys: dict[str, str], other_keys: dict[str, str]
) -> None:
    created = _segment(
        client, keys["secret_key"], keys["project_id"], name="Mine", filter='event_type = "signup"'
    ).json()
    response = client.get(
        f"/v1/projects/{other_keys['project_id']}/segments/{created['id']}",
        headers=auth(other_keys["secret_key"]),
    )
    assert (response.status_code, response.json()["error"]["code"]) == (404, "segment_not_found")
