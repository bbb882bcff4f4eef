"""Mass assignment: the management inputs refuse fields a caller must not set (422
``validation_error``, nothing changed), and only an org admin changes a project's plan."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import auth

SMUGGLED: dict[str, Any] = {
    "id": "proj_01HACKEDHACKEDHACKEDHACKED",
    "org_id": "org_01HACKEDHACKEDHACKEDHACKED",
    "created_at": "2000-01-01T00:00:00Z",
    "updated_at": "2000-01-01T00:00:00Z",
    "public_key": "pk_x",
    "secret_key": "sk_x",
}


def _assert_validation_error(response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"]["code"] == "validation_error"
    locs = [detail["loc"] for detail in body["error"]["details"]]
    assert any(loc[-1] == field for loc in locs), locs
    assert body["request_id"] == response.headers["x-request-id"]


def _project_names(client: TestClient, admin_key: str) -> list[str]:
    response = client.get("/v1/admin/projects", headers=auth(admin_key), params={"limit": 100})
    assert response.status_code == 200, response.text
    return sorted(p["name"] for p in response.json()["data"])


@pytest.mark.parametrize("field", sorted(SMUGGLED))
@pytest.mark.parametrize("route", ["/v1/admin/projects", "/v1/orgs/{org_id}/projects"])
def test_create_project_refuses_unknown_fields(
    route: str, field: str, client: TestClient, keys: dict[str, str], other_keys: dict[str, str]
) -> None:
    value = other_keys["org_id"] if field == "org_id" else SMUGGLED[field]
    before = _project_names(client, keys["admin_key"])
    others_before = _project_names(client, other_keys["admin_key"])

    response = client.post(
        route.format(org_id=keys["org_id"]),
        headers=auth(keys["admin_key"]),
        json={"name": "Smuggled", field: value},
    )

    _assert_validation_error(response, field)
    assert _project_names(client, keys["admin_key"]) == before
    assert _project_names(client, other_keys["admin_key"]) == others_before


@pytest.mark.parametrize("field", [*sorted(SMUGGLED), "name"])
@pytest.mark.parametrize("who", ["secret_key", "admin_key"])
def test_update_settings_refuses_unknown_fields(
    who: str, field: str, client: TestClient, keys: dict[str, str], other_keys: dict[str, str]
) -> None:
    url = f"/v1/projects/{keys['project_id']}/settings"
    before = client.get(url, headers=auth(keys["admin_key"])).json()
    value = {"org_id": other_keys["org_id"], "name": "Renamed"}.get(field, SMUGGLED.get(field))

    # A valid change rides along: it must not be applied either.
    response = client.patch(
        url, headers=auth(keys[who]), json={"timezone": "Europe/Berlin", field: value}
    )

    _assert_validation_error(response, field)
    assert client.get(url, headers=auth(keys["admin_key"])).json() == before
    # The project did not move to the other org.
    moved = client.get(f"/v1/projects/{keys['project_id']}", headers=auth(other_keys["admin_key"]))
    assert moved.status_code == 404
    audit = client.get(f"/v1/projects/{keys['project_id']}/audit", headers=auth(keys[who]))
    assert "project.update_settings" not in {e["action"] for e in audit.json()["data"]}


@pytest.mark.parametrize("field", ["id", "project_id", "expires_at", "revoked_at", "token"])
def test_create_token_refuses_unknown_fields(
    field: str, client: TestClient, keys: dict[str, str], other_keys: dict[str, str]
) -> None:
    url = f"/v1/projects/{keys['project_id']}/tokens"
    value = other_keys["project_id"] if field == "project_id" else "2099-01-01T00:00:00Z"
    response = client.post(
        url,
        headers=auth(keys["secret_key"]),
        json={"name": "ci", "scopes": ["query"], field: value},
    )
    _assert_validation_error(response, field)
    listed = client.get(url, headers=auth(keys["secret_key"])).json()["data"]
    assert listed == []
    others = client.get(
        f"/v1/projects/{other_keys['project_id']}/tokens", headers=auth(other_keys["secret_key"])
    ).json()["data"]
    assert others == []


def _admin_token(client: TestClient, keys: dict[str, str]) -> str:
    response = client.post(
        f"/v1/projects/{keys['project_id']}/tokens",
        headers=auth(keys["secret_key"]),
        json={"name": "admin", "scopes": ["admin"], "expires_in": "1h"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


@pytest.mark.parametrize("who", ["secret_key", "admin_token"])
def test_project_credentials_cannot_change_the_plan(
    who: str, client: TestClient, keys: dict[str, str]
) -> None:
    key = _admin_token(client, keys) if who == "admin_token" else keys[who]
    url = f"/v1/projects/{keys['project_id']}/settings"
    before = client.get(url, headers=auth(keys["admin_key"])).json()

    response = client.patch(
        url, headers=auth(key), json={"plan": "scale", "timezone": "Europe/Berlin"}
    )

    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "admin_key_required"
    # Nothing of the request was applied, not even the allowed timezone.
    assert client.get(url, headers=auth(keys["admin_key"])).json() == before
    assert before["plan"] == "free"
    # The same key may change what a project admin may change.
    allowed = client.patch(url, headers=auth(key), json={"timezone": "Europe/Berlin"})
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["timezone"] == "Europe/Berlin"
    assert allowed.json()["plan"] == "free"


def test_org_admin_changes_the_plan(client: TestClient, keys: dict[str, str]) -> None:
    url = f"/v1/projects/{keys['project_id']}/settings"
    response = client.patch(url, headers=auth(keys["admin_key"]), json={"plan": "scale"})
    assert response.status_code == 200, response.text
    assert response.json()["plan"] == "scale"
    # The project's own keys see the new plan.
    assert client.get(url, headers=auth(keys["secret_key"])).json()["plan"] == "scale"
    audit = client.get(
        f"/v1/projects/{keys['project_id']}/audit", headers=auth(keys["admin_key"])
    ).json()["data"]
    changes = [e for e in audit if e["action"] == "project.update_settings"]
    assert [e["details"] for e in changes] == [{"plan": "scale"}]


def test_org_admin_of_another_org_cannot_change_the_plan(
    client: TestClient, keys: dict[str, str], other_keys: dict[str, str]
) -> None:
    url = f"/v1/projects/{keys['project_id']}/settings"
    response = client.patch(url, headers=auth(other_keys["admin_key"]), json={"plan": "scale"})
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "project_not_found"
    assert client.get(url, headers=auth(keys["admin_key"])).json()["plan"] == "free"
