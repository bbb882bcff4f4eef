"""Rate limits per key and plan tier, counted in process (no Redis).

DESIGN.md, "Conventions of the HTTP API": management 10 / 50 / 100 requests per window and key
for the Free / Growth / Scale plans; ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` on
every keyed response, ``Retry-After`` on 429.

Every test here runs with a 60 s window (so that no window ends during a test) unless it
parametrizes the ``settings`` fixture with other values.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from growthos_pipeline.settings import Settings
from tests.conftest import MakeSettings, auth

WINDOW_S = 60
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


@pytest.fixture
def settings(make_settings: MakeSettings, request: pytest.FixtureRequest) -> Settings:
    """Rate limits on, a 60 s window; ``@pytest.mark.parametrize("settings", [{...}],
    indirect=True)`` overrides fields."""
    overrides: dict[str, Any] = {"rate_limits_enabled": True, "rate_limit_window_s": WINDOW_S}
    overrides.update(getattr(request, "param", {}))
    return make_settings(**overrides)


def rate(response: httpx.Response) -> tuple[int, int, int]:
    """The (limit, remaining, reset) headers of a response, as integers (each sent once)."""
    for name in RATE_HEADERS:
        assert len(response.headers.get_list(name)) == 1, response.headers
    return (
        int(response.headers["x-ratelimit-limit"]),
        int(response.headers["x-ratelimit-remaining"]),
        int(response.headers["x-ratelimit-reset"]),
    )


def get_project(client: TestClient, keys: dict[str, str], key: str) -> httpx.Response:
    return client.get(f"/v1/projects/{keys['project_id']}", headers=auth(key))


def assert_rate_limited(response: httpx.Response, *, limit: int, window_s: int) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["error"]["code"] == "rate_limited"
    assert body["error"]["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert len(response.headers.get_list("retry-after")) == 1, response.headers
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit(), retry_after
    assert 1 <= int(retry_after) <= window_s + 1
    assert rate(response)[:2] == (limit, 0)


def test_the_eleventh_free_management_request_in_a_window_answers_429(
    client: TestClient, keys: dict[str, str]
) -> None:
    started = time.time()
    resets = set()
    for expected_remaining in range(9, -1, -1):
        response = get_project(client, keys, keys["secret_key"])
        assert response.status_code == 200, response.text
        limit, remaining, reset = rate(response)
        assert (limit, remaining) == (10, expected_remaining)
        assert "retry-after" not in response.headers
        resets.add(reset)
    # one window: the same reset on every response, when the 60 s window that began with the
    # first request ends (rounded up to whole seconds)
    assert len(resets) == 1
    (reset,) = resets
    assert started + WINDOW_S <= reset <= time.time() + WINDOW_S + 1

    response = get_project(client, keys, keys["secret_key"])
    assert_rate_limited(response, limit=10, window_s=WINDOW_S)
    assert rate(response)[2] == reset
    assert int(response.headers["retry-after"]) >= int(reset - time.time())

    # and it stays limited for the rest of the window
    assert get_project(client, keys, keys["secret_key"]).status_code == 429


def test_every_keyed_response_carries_the_headers_and_remaining_counts_down(
    client: TestClient, keys: dict[str, str], other_keys: dict[str, str]
) -> None:
    secret = auth(keys["secret_key"])
    answers = [
        client.get(f"/v1/projects/{keys['project_id']}", headers=secret),
        # another tenant's project: 404, counted all the same
        client.get(f"/v1/projects/{other_keys['project_id']}", headers=secret),
        # a secret key may not change the plan: 403
        client.patch(
            f"/v1/projects/{keys['project_id']}/settings", headers=secret, json={"plan": "scale"}
        ),
        # an invalid body: 422
        client.patch(
            f"/v1/projects/{keys['project_id']}/settings", headers=secret, json={"plan": "gold"}
        ),
    ]
    assert [r.status_code for r in answers] == [200, 404, 403, 422], [r.text for r in answers]
    assert answers[1].json()["error"]["code"] == "project_not_found"
    assert answers[2].json()["error"]["code"] == "admin_key_required"
    assert [rate(r)[:2] for r in answers] == [(10, 9), (10, 8), (10, 7), (10, 6)]
    assert len({rate(r)[2] for r in answers}) == 1
    assert not any("retry-after" in r.headers for r in answers)


def test_each_key_has_its_own_counter(
    client: TestClient, keys: dict[str, str], other_keys: dict[str, str]
) -> None:
    for _ in range(10):
        assert get_project(client, keys, keys["secret_key"]).status_code == 200
    assert get_project(client, keys, keys["secret_key"]).status_code == 429

    # the org's admin key, on the same project, and another tenant's key still pass
    admin = get_project(client, keys, keys["admin_key"])
    assert admin.status_code == 200, admin.text
    assert rate(admin)[:2] == (10, 9)
    other = get_project(client, other_keys, other_keys["secret_key"])
    assert other.status_code == 200, other.text
    assert rate(other)[:2] == (10, 9)

    assert get_project(client, keys, keys["secret_key"]).status_code == 429


@pytest.mark.parametrize(("plan", "limit"), [("growth", 50), ("scale", 100)])
def test_the_project_plan_sets_the_limit_of_its_keys(
    client: TestClient, keys: dict[str, str], plan: str, limit: int
) -> None:
    assert rate(get_project(client, keys, keys["secret_key"]))[:2] == (10, 9)

    changed = client.patch(
        f"/v1/projects/{keys['project_id']}/settings",
        headers=auth(keys["admin_key"]),
        json={"plan": plan},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["plan"] == plan

    for expected_remaining in range(limit - 1, -1, -1):
        response = get_project(client, keys, keys["secret_key"])
        assert response.status_code == 200, response.text
        assert rate(response)[:2] == (limit, expected_remaining)
    assert_rate_limited(
        get_project(client, keys, keys["secret_key"]), limit=limit, window_s=WINDOW_S
    )


@pytest.mark.parametrize(
    "settings", [{"plan_limits": {"free": {"ingest": 100, "management": 3}}}], indirect=True
)
def test_plan_limits_from_the_settings_replace_the_defaults(
    client: TestClient, keys: dict[str, str]
) -> None:
    for expected_remaining in (2, 1, 0):
        response = get_project(client, keys, keys["secret_key"])
        assert response.status_code == 200, response.text
        assert rate(response)[:2] == (3, expected_remaining)
    assert_rate_limited(get_project(client, keys, keys["secret_key"]), limit=3, window_s=WINDOW_S)


def test_plan_limits_are_read_from_the_environment_as_json(
    make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "GROWTHOS_PLAN_LIMITS", json.dumps({"growth": {"ingest": 700, "management": 70}})
    )
    settings = make_settings(rate_limits_enabled=True)
    assert settings.limit_for("growth", "management") == 70
    assert settings.limit_for("growth", "ingest") == 700
    # the plans not named keep their defaults
    assert settings.limit_for("free", "management") == 10
    assert settings.limit_for("scale", "management") == 100


def test_unkeyed_responses_have_no_rate_limit_headers(
    client: TestClient, keys: dict[str, str]
) -> None:
    assert get_project(client, keys, keys["secret_key"]).status_code == 200
    for response in (
        client.get("/healthz"),
        client.get("/readyz"),
        client.get(f"/v1/projects/{keys['project_id']}"),  # no credential: 401
    ):
        assert response.status_code in (200, 401), response.text
        assert not any(name in response.headers for name in RATE_HEADERS), response.headers
        assert "retry-after" not in response.headers


@pytest.mark.parametrize(
    "settings",
    [{"rate_limit_window_s": 1, "plan_limits": {"free": {"ingest": 100, "management": 2}}}],
    indirect=True,
)
def test_the_window_resets_at_the_time_it_reports(client: TestClient, keys: dict[str, str]) -> None:
    for _ in range(2):
        assert get_project(client, keys, keys["secret_key"]).status_code == 200
    limited = get_project(client, keys, keys["secret_key"])
    assert_rate_limited(limited, limit=2, window_s=1)
    reset = rate(limited)[2]
    assert reset <= time.time() + 2

    while time.time() < reset:  # wait for the reset the server announced, not a guess
        time.sleep(min(0.05, max(0.0, reset - time.time())))

    again = get_project(client, keys, keys["secret_key"])
    assert again.status_code == 200, again.text
    limit, remaining, next_reset = rate(again)
    assert (limit, remaining) == (2, 1)
    assert next_reset > reset
