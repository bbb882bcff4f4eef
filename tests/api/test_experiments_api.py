"""The experiment and feature routes, and the configuration GrowthBook clients read, over
the real app: errors in the envelope, pagination, Idempotency-Key, ETag and 304."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import auth

EXPERIMENT: dict[str, Any] = {
    "key": "checkout",
    "name": "One-page checkout",
    "variations": [{"value": False, "key": "control"}, {"value": True, "key": "one-page"}],
    "weights": [0.5, 0.5],
    "coverage": 0.8,
    "status": "running",
    "targeting": {"groups": ["beta"], "url": "^/checkout"},
}
FEATURE: dict[str, Any] = {
    "key": "one-page-checkout",
    "value_type": "boolean",
    "default_value": False,
    "rules": [{"type": "experiment", "experiment": "checkout"}],
}


def _post(client: TestClient, key: str, project: str, kind: str, body: Any, **headers: str) -> Any:
    return client.post(f"/v1/projects/{project}/{kind}", headers=auth(key) | headers, json=body)


def test_validation_errors_name_code_and_field(client: TestClient, keys: dict[str, str]) -> None:
    sk, project = keys["secret_key"], keys["project_id"]
    cases = [
        ({"weights": [0.6, 0.6]}, "invalid_weights", "weights"),
        ({"targeting": {"url": "^/checkout/(a"}}, "invalid_url_regex", "targeting.url"),
        ({"force": 2}, "invalid_force", "force"),
    ]
    for change, code, field in cases:
        response = _post(client, sk, project, "experiments", EXPERIMENT | change)
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["error"]["code"] == code and body["request_id"]
        assert body["error"]["details"][0]["field"] == field
        assert code.split("_", 1)[1].split("_")[0] in body["error"]["message"]
    shape = _post(client, sk, project, "experiments", EXPERIMENT | {"coverage": 1.5})
    assert (shape.status_code, shape.json()["error"]["code"]) == (422, "validation_error")
    unknown = _post(client, sk, project, "experiments", EXPERIMENT | {"org_id": "x"})
    assert unknown.status_code == 422
    feature = _post(client, sk, project, "features", FEATURE)
    assert (feature.status_code, feature.json()["error"]["code"]) == (400, "unknown_experiment")


def test_crud_pagination_and_idempotency(
    client: TestClient, keys: dict[str, str], other_keys: dict[str, str]
) -> None:
    sk, project = keys["secret_key"], keys["project_id"]
    first = _post(client, sk, project, "experiments", EXPERIMENT, **{"Idempotency-Key": "e-1"})
    assert first.status_code == 201, first.text
    again = _post(client, sk, project, "experiments", EXPERIMENT, **{"Idempotency-Key": "e-1"})
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = _post(
        client, sk, project, "experiments", EXPERIMENT | {"key": "x"}, **{"Idempotency-Key": "e-1"}
    )
    assert other.status_code == 409
    dup = _post(client, sk, project, "experiments", EXPERIMENT)
    assert (dup.status_code, dup.json()["error"]["code"]) == (409, "experiment_key_taken")
    for i in range(3):
        made = _post(client, sk, project, "experiments", EXPERIMENT | {"key": f"exp-{i}"})
        assert made.status_code == 201
    keys_seen, cursor = [], None
    while True:
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = client.get(
            f"/v1/projects/{project}/experiments", headers=auth(sk), params=params
        ).json()
        keys_seen += [e["key"] for e in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert keys_seen == ["checkout", "exp-0", "exp-1", "exp-2"]

    url = f"/v1/projects/{project}/experiments/checkout"
    patched = client.patch(url, headers=auth(sk), json={"status": "stopped", "winner": 1})
    assert patched.status_code == 200 and patched.json()["winner"] == 1
    bad = client.patch(url, headers=auth(sk), json={"weights": [0.2, 0.2]})
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_weights")
    assert client.get(url, headers=auth(sk)).json()["weights"] == [0.5, 0.5]
    assert client.get(url, headers=auth(keys["public_key"])).status_code == 403
    assert (
        client.get(url.replace(project, other_keys["project_id"]), headers=auth(sk)).status_code
        == 404
    )

    feature = _post(client, sk, project, "features", FEATURE)
    assert feature.status_code == 201, feature.text
    in_use = client.delete(url, headers=auth(sk))
    assert (in_use.status_code, in_use.json()["error"]["code"]) == (409, "experiment_in_use")
    gone = client.delete(
        f"/v1/projects/{project}/features/{feature.json()['id']}", headers=auth(sk)
    )
    assert gone.json()["deleted"] is True
    assert client.delete(url, headers=auth(sk)).status_code == 200
    assert client.get(url, headers=auth(sk)).json()["error"]["code"] == "experiment_not_found"


def test_client_config_with_etag(client: TestClient, keys: dict[str, str]) -> None:
    sk, pk, project = keys["secret_key"], keys["public_key"], keys["project_id"]
    assert _post(client, sk, project, "experiments", EXPERIMENT).status_code == 201
    assert _post(client, sk, project, "features", FEATURE).status_code == 201

    features = client.get(f"/growthbook/api/features/{pk}")
    assert features.status_code == 200, features.text
    rule = features.json()["features"]["one-page-checkout"]["rules"][0]
    assert rule["key"] == "checkout" and rule["coverage"] == 0.8
    assert rule["condition"] == {"url": {"$regex": "^/checkout"}}
    etag = features.headers["ETag"]
    assert features.headers["Cache-Control"].startswith("public, max-age=")
    cached = client.get(f"/growthbook/api/features/{pk}", headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b""
    assert cached.headers["ETag"] == etag

    legacy = client.get(f"/config/{pk}")
    assert legacy.json() == {
        "status": 200,
        "overrides": {
            "checkout": {
                "status": "running",
                "weights": [0.5, 0.5],
                "coverage": 0.8,
                "groups": ["beta"],
                "url": "^/checkout",
            }
        },
    }
    legacy_etag = legacy.headers["ETag"]
    assert client.get(f"/config/{pk}", headers={"If-None-Match": legacy_etag}).status_code == 304

    client.patch(
        f"/v1/projects/{project}/experiments/checkout", headers=auth(sk), json={"coverage": 1}
    )
    changed = client.get(f"/config/{pk}", headers={"If-None-Match": legacy_etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != legacy_etag
    assert changed.json()["overrides"]["checkout"]["coverage"] == 1

    refused = client.get("/growthbook/api/features/pk_nope")
    assert refused.status_code == 401
    admin = client.get(f"/config/{keys['admin_key']}")
    assert (admin.status_code, admin.json()["error"]["code"]) == (403, "project_key_required")
