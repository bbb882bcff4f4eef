"""The API conventions of DESIGN.md: envelope, request ids, limits, budgets, versions,
pagination, idempotency, feature switches, health and metrics."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from api.app import create_app
from growthos_pipeline.catalog.database import Catalog
from tests.conftest import MakeSettings, auth


def assert_envelope(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "request_id"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["error"]["message"]
    return body  # type: ignore[no-any-return]


def test_errors_use_the_envelope(client: TestClient, keys: dict[str, str]) -> None:
    assert_envelope(client.get("/v1/admin/org"), 401, "missing_credentials")
    assert_envelope(client.get("/v1/nowhere"), 404, "not_found")
    assert_envelope(
        client.put("/v1/admin/org", headers=auth(keys["admin_key"])), 405, "method_not_allowed"
    )
    bad_json = client.post(
        "/v1/admin/projects",
        content=b"{not json",
        headers={**auth(keys["admin_key"]), "content-type": "application/json"},
    )
    assert_envelope(bad_json, 400, "invalid_json")
    invalid = client.post("/v1/admin/projects", json={"name": ""}, headers=auth(keys["admin_key"]))
    body = assert_envelope(invalid, 422, "validation_error")
    assert body["error"]["details"][0]["loc"] == ["body", "name"]
    missing = client.get(f"/v1/projects/{keys['project_id']}x", headers=auth(keys["secret_key"]))
    assert_envelope(missing, 404, "project_not_found")


def test_request_ids(client: TestClient) -> None:
    mine = client.get("/healthz", headers={"X-Request-Id": "trace-abc.123"})
    assert mine.headers["x-request-id"] == "trace-abc.123"
    hostile = client.get("/healthz", headers={"X-Request-Id": "<script>" + "x" * 300})
    assert hostile.headers["x-request-id"].startswith("req_")
    a, b = client.get("/healthz"), client.get("/healthz")
    assert a.headers["x-request-id"] != b.headers["x-request-id"]


def test_malformed_key_is_refused_before_any_lookup(
    client: TestClient, catalog: Catalog, keys: dict[str, str]
) -> None:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(catalog.engine, "before_cursor_execute", count)
    try:
        broken = keys["secret_key"][:-1] + ("a" if keys["secret_key"][-1] != "a" else "b")
        for bad in (broken, "sk_short", "zz_" + "a" * 38, "x" * 500):
            response = client.get(f"/v1/projects/{keys['project_id']}", headers=auth(bad))
            assert_envelope(response, 401, "invalid_api_key")
        assert statements == []
        ok = client.get(f"/v1/projects/{keys['project_id']}", headers=auth(keys["secret_key"]))
        assert ok.status_code == 200 and statements
    finally:
        event.remove(catalog.engine, "before_cursor_execute", count)


def test_internal_errors_leak_nothing(make_settings: MakeSettings) -> None:
    app = create_app(make_settings())

    @app.get("/v1/boom")
    def boom() -> None:
        raise RuntimeError("cannot open /srv/secret/path.db with password hunter2")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/boom")
    body = assert_envelope(response, 500, "internal_error")
    text = response.text
    assert "hunter2" not in text and "/srv/secret" not in text and "Traceback" not in text
    assert body["request_id"].startswith("req_")


def test_time_budget_answers_504(make_settings: MakeSettings) -> None:
    app = create_app(make_settings(request_timeout_s=0.2))

    @app.get("/v1/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(5)
        return {"late": "yes"}

    with TestClient(app) as client:
        assert_envelope(client.get("/v1/slow"), 504, "timeout")


def test_body_size_is_bounded(make_settings: MakeSettings, catalog: Catalog) -> None:
    settings = make_settings(max_body_bytes=2048)
    from growthos_pipeline.catalog.orgs import bootstrap

    boot = bootstrap(catalog, settings, org_name="Acme", project_name="Web")
    with TestClient(create_app(settings, catalog=catalog)) as client:
        big = {"name": "x" * 10, "allowed_origins": ["https://a.example"] * 200}
        response = client.post("/v1/admin/projects", json=big, headers=auth(boot["admin_key"]))
        body = assert_envelope(response, 413, "payload_too_large")
        assert body["error"]["details"][0]["limit_bytes"] == 2048

        def chunks() -> Any:  # no Content-Length: counted as it streams
            for _ in range(10):
                yield b" " * 1000

        streamed = client.post(
            "/v1/admin/projects",
            content=chunks(),
            headers={**auth(boot["admin_key"]), "content-type": "application/json"},
        )
        assert_envelope(streamed, 413, "payload_too_large")


def test_deprecated_version_gets_sunset_headers_then_410(
    make_settings: MakeSettings, catalog: Catalog, keys: dict[str, str]
) -> None:
    sunset = date(2027, 6, 30)
    settings = make_settings(deprecated_versions={"v1": sunset.isoformat()})
    before = create_app(settings, catalog=catalog, today=lambda: sunset - timedelta(days=1))
    with TestClient(before) as client:
        response = client.get("/v1/admin/org", headers=auth(keys["admin_key"]))
        assert response.status_code == 200
        assert response.headers["deprecation"] == "true"
        assert response.headers["sunset"] == "Wed, 30 Jun 2027 00:00:00 GMT"
        assert 'rel="sunset"' in response.headers["link"]
        assert "sunset" not in client.get("/healthz").headers
    after = create_app(settings, catalog=catalog, today=lambda: sunset)
    with TestClient(after) as client:
        response = client.get("/v1/admin/org", headers=auth(keys["admin_key"]))
        assert_envelope(response, 410, "version_gone")
        assert response.headers["sunset"] == "Wed, 30 Jun 2027 00:00:00 GMT"
        assert client.get("/api/admin/org", headers=auth(keys["admin_key"])).status_code == 410
        assert client.get("/healthz").status_code == 200


def test_pagination_over_http(client: TestClient, keys: dict[str, str]) -> None:
    headers = auth(keys["admin_key"])
    for i in range(4):
        assert (
            client.post(
                "/v1/admin/projects", json={"name": f"extra-{i}"}, headers=headers
            ).status_code
            == 201
        )
    first = client.get("/v1/admin/projects?limit=2", headers=headers).json()
    assert set(first) == {"data", "has_more", "next_cursor"}
    assert len(first["data"]) == 2 and first["has_more"]
    names = [p["name"] for p in first["data"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(
            "/v1/admin/projects", params={"limit": 2, "cursor": cursor}, headers=headers
        ).json()
        names += [p["name"] for p in page["data"]]
        cursor = page["next_cursor"]
    assert names == ["Web", "extra-0", "extra-1", "extra-2", "extra-3"]
    default = client.get("/v1/admin/projects", headers=headers).json()
    assert len(default["data"]) == 5 and default["has_more"] is False
    assert_envelope(
        client.get("/v1/admin/projects?limit=101", headers=headers), 422, "validation_error"
    )
    assert_envelope(
        client.get("/v1/admin/projects?limit=0", headers=headers), 422, "validation_error"
    )
    assert_envelope(
        client.get("/v1/admin/projects?cursor=zzz", headers=headers), 400, "invalid_cursor"
    )


def test_idempotency_key_replays_and_conflicts(client: TestClient, keys: dict[str, str]) -> None:
    headers = {**auth(keys["admin_key"]), "Idempotency-Key": "create-app-1"}
    first = client.post("/v1/admin/projects", json={"name": "App"}, headers=headers)
    assert first.status_code == 201
    again = client.post("/v1/admin/projects", json={"name": "App"}, headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()  # the same secret key, shown again to the same caller
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    projects = client.get("/v1/admin/projects", headers=auth(keys["admin_key"])).json()["data"]
    assert [p["name"] for p in projects].count("App") == 1

    other = client.post("/v1/admin/projects", json={"name": "Other"}, headers=headers)
    assert_envelope(other, 409, "idempotency_key_reused")

    # A request that failed validation is replayed as the same failure, not re-run.
    bad = {**auth(keys["admin_key"]), "Idempotency-Key": "bad-1"}
    assert client.post("/v1/admin/projects", json={"name": ""}, headers=bad).status_code == 422
    assert client.post("/v1/admin/projects", json={"name": ""}, headers=bad).status_code == 422

    # A revoked credential never gets the stored response back.
    rotate = client.post("/v1/admin/rotate-key", headers=auth(keys["admin_key"]))
    assert rotate.status_code == 201
    replay = client.post("/v1/admin/projects", json={"name": "App"}, headers=headers)
    assert_envelope(replay, 401, "key_revoked")

    too_long = {**auth(rotate.json()["admin_key"]), "Idempotency-Key": "k" * 300}
    assert_envelope(
        client.post("/v1/admin/projects", json={"name": "Z"}, headers=too_long),
        400,
        "invalid_idempotency_key",
    )


def test_switched_off_features_answer_503(
    make_settings: MakeSettings, catalog: Catalog, keys: dict[str, str]
) -> None:
    settings = make_settings(disabled_features="tokens,project_delete,oauth_login")
    with TestClient(create_app(settings, catalog=catalog)) as client:
        token = client.post(
            f"/v1/projects/{keys['project_id']}/tokens",
            json={"name": "t", "scopes": ["query"]},
            headers=auth(keys["secret_key"]),
        )
        assert_envelope(token, 503, "feature_disabled")
        delete = client.request(
            "DELETE",
            f"/v1/admin/projects/{keys['project_id']}",
            json={"project_name": "Web", "project_name_confirm": "Web"},
            headers=auth(keys["admin_key"]),
        )
        assert_envelope(delete, 503, "feature_disabled")
        login = client.get("/v1/auth/github/login", follow_redirects=False)
        assert_envelope(login, 503, "feature_disabled")
        assert (
            client.get(
                f"/v1/projects/{keys['project_id']}", headers=auth(keys["secret_key"])
            ).status_code
            == 200
        )


def test_unknown_feature_switch_is_a_settings_error(make_settings: MakeSettings) -> None:
    with pytest.raises(ValueError, match="unknown feature"):
        make_settings(disabled_features="querry")


def test_health_readiness_and_metrics(client: TestClient, keys: dict[str, str]) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "checks": {}}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "catalog": "ok",
        "data_dir": "ok",
        "wal": "ok",
        "flusher": "ok",
    }
    client.get("/v1/admin/org", headers=auth(keys["admin_key"]))
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert (
        'growthos_http_requests_total{method="GET",route="/v1/admin/org",status="200"}'
        in metrics.text
    )
    assert "growthos_http_request_duration_seconds_bucket" in metrics.text


def test_openapi_has_stable_operation_ids(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    assert {
        "admin_create_project",
        "admin_list_projects",
        "admin_delete_project",
        "admin_rotate_key",
        "admin_rotate_secret_key",
        "create_token",
        "list_tokens",
        "revoke_token",
        "update_project_settings",
        "list_orgs",
        "create_org",
        "get_me",
        "github_login",
        "github_callback",
        "healthz",
        "readyz",
        "metrics",
    } <= set(ids)
    assert not any(path.startswith("/api/") for path in spec["paths"])
    assert "ErrorEnvelope" in spec["components"]["schemas"]


def test_api_prefix_is_an_alias_of_v1(client: TestClient, keys: dict[str, str]) -> None:
    v1 = client.get("/v1/admin/projects", headers=auth(keys["admin_key"])).json()
    alias = client.get("/api/admin/projects", headers=auth(keys["admin_key"])).json()
    assert v1 == alias
