"""The authorization matrix: every versioned route x every kind of credential -> the outcome.

The routes come from the app's own route table (``/v1``); a route missing from ``ROUTES`` below
fails the suite, so a new route has to be classified before it ships. Every case runs against
a fresh world (two tenants with their own keys and tokens), so destructive routes (delete a
project, rotate keys, revoke a token) never leak into another case.

Besides the status class and error code, every case checks that nothing a refused call
touched changed, that a cross-tenant credential left the victim's rows alone, and that no 2xx
answer names another tenant's ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import insert, or_, select, update

from api.app import create_app, versioned_router
from growthos_pipeline import gdpr
from growthos_pipeline.campaigns import referrals as campaign_referrals
from growthos_pipeline.campaigns import waitlist as campaign_waitlist
from growthos_pipeline.catalog import keys as catalog_keys
from growthos_pipeline.catalog.credentials import KeyKind
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.models import ProjectCreate
from growthos_pipeline.catalog.orgs import bootstrap
from growthos_pipeline.catalog.projects import insert_project
from growthos_pipeline.catalog.tables import (
    api_keys,
    audit_log,
    memberships,
    orgs,
    projects,
    utcnow,
)
from growthos_pipeline.catalog.tables import campaigns as campaigns_table
from growthos_pipeline.catalog.tables import experiments as experiments_table
from growthos_pipeline.catalog.tables import features as features_table
from growthos_pipeline.catalog.tables import segments as segments_table
from growthos_pipeline.ids import new_id
from growthos_pipeline.lake.derived import replace_project
from growthos_pipeline.profiles import PROFILES
from growthos_pipeline.settings import Settings

# ---- the route table -------------------------------------------------------------------------

#: Who a route is for.
#: * ``project``: a project's sk_, an aat_ with the admin scope, or an admin of its org;
#: * ``org_admin``: org admins only (ak_ or a signed-in owner); project keys get 403;
#: * ``session``: signed-in people only; every key gets 403 ``session_required``;
#: * ``query``: a project key or token with the query scope, reading its own project;
#: * ``ingest``: a project key or token with the track scope, writing into its own project;
#: * ``project_read``: derived data of a project (usage, segments, profiles): the ``query`` or
#:   the ``admin`` scope (an sk_, an aat_ with either scope, or an admin of its org);
#: * ``public``: no credential (sign-in flow; covered by tests/api/test_oauth_login.py);
#: * ``gdpr``: a project key or token with the admin scope, on its own project (org admins
#:   name the project with ?project_id=, so without it they get 400 project_required);
#: * ``gdpr_job``: one GDPR job: the admins of its project (others: 404 gdpr_job_not_found).
#: * ``campaign``: the public campaign endpoints: a project key or token with the track scope,
#:   on a campaign of its own project (another project's key: 404 campaign_not_found).
Access = str


@dataclass(frozen=True)
class RouteSpec:
    access: Access
    #: The JSON body of a request that succeeds for an allowed caller.
    body: Callable[[World], Any] | None = None
    #: Checks, after a 2xx answer, that the call did what it says.
    effect: Callable[[World, TestClient, Any], None] | None = None


def _unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:10]}"


def _delete_body(world: World) -> dict[str, str]:
    return {
        "project_name": world.victim.project_name,
        "project_name_confirm": world.victim.project_name,
    }


def _project_gone(world: World, client: TestClient, _: Any) -> None:
    response = client.get(
        f"/v1/projects/{world.victim.project_id}", headers=_headers(world.victim.admin_key)
    )
    assert response.status_code == 404, response.text
    assert _refused(client, world.victim.secret_key) == (401, "invalid_api_key")


def _secret_key_rotated(world: World, client: TestClient, body: Any) -> None:
    assert _refused(client, world.victim.secret_key) == (401, "key_revoked")
    assert (
        client.get(
            f"/v1/projects/{world.victim.project_id}", headers=_headers(body["secret_key"])
        ).status_code
        == 200
    )
    # The public key is unchanged by a secret-key rotation.
    assert body["secret_key"].startswith("sk_") and "public_key" not in body


def _admin_key_rotated(world: World, client: TestClient, body: Any) -> None:
    old = client.get("/v1/admin/org", headers=_headers(world.victim.admin_key))
    assert (old.status_code, old.json()["error"]["code"]) == (401, "key_revoked")
    fresh = client.get("/v1/admin/org", headers=_headers(body["admin_key"]))
    assert fresh.status_code == 200 and fresh.json()["id"] == world.victim.org_id


def _gdpr_job_completed(world: World, client: TestClient, body: Any) -> None:
    assert body["status"] == "queued" and "matrix-user" not in str(body)
    # The job ran after the answer (TestClient waits for background tasks).
    job = client.get(f"/v1/gdpr/jobs/{body['id']}", headers=_headers(world.victim.admin_key))
    assert job.status_code == 200 and job.json()["status"] == "completed", job.text


def _token_revoked(world: World, client: TestClient, body: Any) -> None:
    assert body["status"] == "revoked"
    response = client.get(
        f"/v1/projects/{world.victim.project_id}", headers=_headers(world.target_token)
    )
    assert (response.status_code, response.json()["error"]["code"]) == (401, "key_revoked")


def _segment_created(world: World, client: TestClient, body: Any) -> None:
    assert body["id"].startswith("seg_") and body["project_id"] == world.victim.project_id
    got = client.get(
        f"/v1/projects/{world.victim.project_id}/segments/{body['id']}",
        headers=_headers(world.victim.admin_key),
    )
    assert got.status_code == 200 and got.json()["name"] == body["name"]


def _segment_deleted(world: World, client: TestClient, body: Any) -> None:
    assert body["deleted"] is True
    got = client.get(
        f"/v1/projects/{world.victim.project_id}/segments/{world.segment_id}",
        headers=_headers(world.victim.admin_key),
    )
    assert (got.status_code, got.json()["error"]["code"]) == (404, "segment_not_found")


def _experiment_body(world: World) -> dict[str, Any]:
    return {
        "key": f"exp-{uuid.uuid4().hex[:10]}",
        "variations": [{"value": "a"}, {"value": "b"}],
        "weights": [0.5, 0.5],
        "status": "running",
    }


def _created_in_victim(kind: str) -> Callable[[World, TestClient, Any], None]:
    def effect(world: World, client: TestClient, body: Any) -> None:
        assert body["project_id"] == world.victim.project_id
        got = client.get(
            f"/v1/projects/{world.victim.project_id}/{kind}/{body['id']}",
            headers=_headers(world.victim.admin_key),
        )
        assert got.status_code == 200 and got.json()["key"] == body["key"]

    return effect


def _signup_erased(world: World, client: TestClient, body: Any) -> None:
    assert body is None  # 204
    url = f"/v1/projects/{world.victim.project_id}/campaigns/{CAMPAIGN_KEYS['waitlist']}/signups"
    found = client.get(
        url, headers=_headers(world.victim.admin_key), params={"email": "matrix@example.com"}
    )
    assert found.status_code == 200 and found.json()["data"] == [], found.text


def _results_computed(world: World, client: TestClient, body: Any) -> None:
    assert body["experiment"] == "matrix-experiment" and not body["stored"]
    assert [v["users"] for v in body["variations"]] == [0, 0]


def _webhook_created(world: World, client: TestClient, body: Any) -> None:
    assert body["project_id"] == world.victim.project_id and body["secret"].startswith("whsec_")
    got = client.get(
        f"/v1/projects/{world.victim.project_id}/webhooks/{body['id']}",
        headers=_headers(world.victim.admin_key),
    )
    assert got.status_code == 200 and "secret" not in got.json()


def _deleted_from_victim(kind: str) -> Callable[[World, TestClient, Any], None]:
    def effect(world: World, client: TestClient, body: Any) -> None:
        assert body["deleted"] is True
        got = client.get(
            f"/v1/projects/{world.victim.project_id}/{kind}/{body['id']}",
            headers=_headers(world.victim.admin_key),
        )
        assert (got.status_code, got.json()["error"]["code"]) == (404, f"{kind[:-1]}_not_found")

    return effect


ROUTES: dict[tuple[str, str], RouteSpec] = {
    # /v1/admin: the org admin key's API.
    ("GET", "/admin/org"): RouteSpec("org_admin"),
    ("POST", "/admin/rotate-key"): RouteSpec("org_admin", effect=_admin_key_rotated),
    ("GET", "/admin/projects"): RouteSpec("org_admin"),
    ("POST", "/admin/projects"): RouteSpec("org_admin", body=lambda w: {"name": _unique("New")}),
    ("GET", "/admin/projects/{project_id}"): RouteSpec("org_admin"),
    ("DELETE", "/admin/projects/{project_id}"): RouteSpec(
        "org_admin", body=_delete_body, effect=_project_gone
    ),
    ("POST", "/admin/projects/{project_id}/rotate-secret-key"): RouteSpec(
        "org_admin", effect=_secret_key_rotated
    ),
    ("GET", "/admin/audit"): RouteSpec("org_admin"),
    # /v1/projects/{project_id}: the project's own API.
    ("GET", "/projects/{project_id}"): RouteSpec("project"),
    ("GET", "/projects/{project_id}/settings"): RouteSpec("project"),
    ("PATCH", "/projects/{project_id}/settings"): RouteSpec(
        "project", body=lambda w: {"timezone": "Europe/Berlin", "retention_days": 90}
    ),
    ("POST", "/projects/{project_id}/rotate-secret-key"): RouteSpec(
        "project", effect=_secret_key_rotated
    ),
    ("GET", "/projects/{project_id}/tokens"): RouteSpec("project"),
    ("POST", "/projects/{project_id}/tokens"): RouteSpec(
        "project", body=lambda w: {"name": "ci", "scopes": ["admin"], "expires_in": "1h"}
    ),
    ("GET", "/projects/{project_id}/tokens/{token_id}"): RouteSpec("project"),
    ("DELETE", "/projects/{project_id}/tokens/{token_id}"): RouteSpec(
        "project", effect=_token_revoked
    ),
    ("GET", "/projects/{project_id}/audit"): RouteSpec("project"),
    # /v1/me, /v1/orgs: signed-in people; ak_ for its own org.
    ("GET", "/me"): RouteSpec("session"),
    ("GET", "/orgs"): RouteSpec("org_admin"),
    ("POST", "/orgs"): RouteSpec("session", body=lambda w: {"name": _unique("Org")}),
    ("GET", "/orgs/{org_id}"): RouteSpec("org_admin"),
    ("POST", "/orgs/{org_id}/rotate-admin-key"): RouteSpec("org_admin", effect=_admin_key_rotated),
    ("GET", "/orgs/{org_id}/projects"): RouteSpec("org_admin"),
    ("POST", "/orgs/{org_id}/projects"): RouteSpec(
        "org_admin", body=lambda w: {"name": _unique("New")}
    ),
    ("DELETE", "/orgs/{org_id}/projects/{project_id}"): RouteSpec(
        "org_admin", body=_delete_body, effect=_project_gone
    ),
    # Ingest: any project credential with the track scope, into its own project.
    ("POST", "/track"): RouteSpec("ingest", body=lambda w: {"event_type": "x", "user_id": "u"}),
    ("POST", "/identify"): RouteSpec("ingest", body=lambda w: {"user_id": "u", "device_id": "d"}),
    ("POST", "/page"): RouteSpec(
        "ingest", body=lambda w: {"device_id": "d", "url": "https://a.io"}
    ),
    ("POST", "/group"): RouteSpec(
        "ingest", body=lambda w: {"user_id": "u", "group_type": "company", "group_id": "c1"}
    ),
    ("POST", "/alias"): RouteSpec("ingest", body=lambda w: {"user_id": "u", "previous_id": "d"}),
    ("POST", "/batch"): RouteSpec(
        "ingest", body=lambda w: {"batch": [{"type": "track", "event": "x", "userId": "u"}]}
    ),
    # Query: a project credential with the query scope, on its own project.
    ("POST", "/query"): RouteSpec("query", body=lambda w: {"q": "last 7d | count"}),
    # /v1/gdpr: a project's admins export or erase one person's data.
    ("DELETE", "/gdpr/users/{user_id}"): RouteSpec("gdpr", effect=_gdpr_job_completed),
    ("GET", "/gdpr/users/{user_id}/export"): RouteSpec("gdpr"),
    ("GET", "/gdpr/jobs"): RouteSpec("gdpr"),
    ("GET", "/gdpr/jobs/{job_id}"): RouteSpec("gdpr_job"),
    # Derived data: reads with the query or admin scope, segment writes with admin.
    ("GET", "/projects/{project_id}/usage"): RouteSpec("project_read"),
    ("GET", "/admin/projects/{project_id}/usage"): RouteSpec("org_admin"),
    ("GET", "/projects/{project_id}/users/{user_id}"): RouteSpec("project_read"),
    ("GET", "/projects/{project_id}/segments"): RouteSpec("project_read"),
    ("POST", "/projects/{project_id}/segments"): RouteSpec(
        "project",
        body=lambda w: {"name": _unique("Seg"), "filter": 'event_type = "signup"'},
        effect=_segment_created,
    ),
    ("GET", "/projects/{project_id}/segments/{segment_id}"): RouteSpec("project_read"),
    ("PATCH", "/projects/{project_id}/segments/{segment_id}"): RouteSpec(
        "project", body=lambda w: {"description": "people who bought"}
    ),
    ("DELETE", "/projects/{project_id}/segments/{segment_id}"): RouteSpec(
        "project", effect=_segment_deleted
    ),
    ("GET", "/projects/{project_id}/segments/{segment_id}/members"): RouteSpec("project_read"),
    # Experiments and feature flags: reads with the query or admin scope, writes with admin.
    ("GET", "/projects/{project_id}/experiments"): RouteSpec("project_read"),
    ("POST", "/projects/{project_id}/experiments"): RouteSpec(
        "project", body=_experiment_body, effect=_created_in_victim("experiments")
    ),
    ("GET", "/projects/{project_id}/experiments/{experiment_id}"): RouteSpec("project_read"),
    ("PATCH", "/projects/{project_id}/experiments/{experiment_id}"): RouteSpec(
        "project", body=lambda w: {"coverage": 0.5}
    ),
    ("DELETE", "/projects/{project_id}/experiments/{experiment_id}"): RouteSpec(
        "project", effect=_deleted_from_victim("experiments")
    ),
    ("GET", "/projects/{project_id}/experiments/{experiment_id}/results"): RouteSpec(
        "project_read", effect=_results_computed
    ),
    ("GET", "/projects/{project_id}/features"): RouteSpec("project_read"),
    ("POST", "/projects/{project_id}/features"): RouteSpec(
        "project",
        body=lambda w: {"key": f"flag-{uuid.uuid4().hex[:10]}", "default_value": True},
        effect=_created_in_victim("features"),
    ),
    ("GET", "/projects/{project_id}/features/{feature_id}"): RouteSpec("project_read"),
    ("PATCH", "/projects/{project_id}/features/{feature_id}"): RouteSpec(
        "project", body=lambda w: {"enabled": False}
    ),
    ("DELETE", "/projects/{project_id}/features/{feature_id}"): RouteSpec(
        "project", effect=_deleted_from_victim("features")
    ),
    # Webhooks of a project: every route needs the admin scope (their URLs and log are
    # configuration, not derived data). A public IP literal: registration resolves no name.
    ("GET", "/projects/{project_id}/webhooks"): RouteSpec("project"),
    ("POST", "/projects/{project_id}/webhooks"): RouteSpec(
        "project", body=lambda w: {"url": "https://93.184.215.14/hook"}, effect=_webhook_created
    ),
    ("GET", "/projects/{project_id}/webhooks/{webhook_id}"): RouteSpec("project"),
    ("DELETE", "/projects/{project_id}/webhooks/{webhook_id}"): RouteSpec(
        "project", effect=_deleted_from_victim("webhooks")
    ),
    ("POST", "/projects/{project_id}/webhooks/{webhook_id}/test"): RouteSpec("project"),
    ("GET", "/projects/{project_id}/webhooks/{webhook_id}/deliveries"): RouteSpec("project"),
    # Campaigns: reads with the query or admin scope, writes and signups (emails) with admin.
    ("GET", "/projects/{project_id}/campaigns"): RouteSpec("project_read"),
    ("POST", "/projects/{project_id}/campaigns"): RouteSpec(
        "project",
        body=lambda w: {"key": f"c-{uuid.uuid4().hex[:10]}", "type": "waitlist", "name": "C"},
        effect=_created_in_victim("campaigns"),
    ),
    ("GET", "/projects/{project_id}/campaigns/{campaign_key}"): RouteSpec("project_read"),
    ("PATCH", "/projects/{project_id}/campaigns/{campaign_key}"): RouteSpec(
        "project", body=lambda w: {"name": "Renamed"}
    ),
    ("DELETE", "/projects/{project_id}/campaigns/{campaign_key}"): RouteSpec(
        "project", effect=_deleted_from_victim("campaigns")
    ),
    ("GET", "/projects/{project_id}/campaigns/{campaign_key}/signups"): RouteSpec("project"),
    ("GET", "/projects/{project_id}/campaigns/{campaign_key}/signups.csv"): RouteSpec("project"),
    (
        "POST",
        "/projects/{project_id}/campaigns/{campaign_key}/signups/{signup_id}/invite",
    ): RouteSpec("project"),
    ("DELETE", "/projects/{project_id}/campaigns/{campaign_key}/signups/{signup_id}"): RouteSpec(
        "project", effect=_signup_erased
    ),
    ("GET", "/projects/{project_id}/campaigns/{campaign_key}/leaderboard"): RouteSpec(
        "project_read"
    ),
    ("GET", "/projects/{project_id}/campaigns/{campaign_key}/summary"): RouteSpec("project_read"),
    # Public campaign endpoints: the track scope, on the key's own project.
    ("GET", "/campaigns/{campaign_key}"): RouteSpec("campaign"),
    ("POST", "/campaigns/{campaign_key}/waitlist"): RouteSpec(
        "campaign", body=lambda w: {"email": f"{uuid.uuid4().hex[:10]}@example.com"}
    ),
    ("GET", "/campaigns/{campaign_key}/waitlist/{signup_id}"): RouteSpec("campaign"),
    ("POST", "/campaigns/{campaign_key}/referrals/code"): RouteSpec(
        "campaign", body=lambda w: {"user_id": "matrix-user"}
    ),
    ("POST", "/campaigns/{campaign_key}/referrals/attribute"): RouteSpec(
        "campaign",
        body=lambda w: {"code": w.referral_code, "user_id": "matrix-referred", "kind": "signup"},
    ),
    ("GET", "/campaigns/{campaign_key}/leaderboard"): RouteSpec("campaign"),
    ("GET", "/campaigns/{campaign_key}/survey"): RouteSpec("campaign"),
    ("POST", "/campaigns/{campaign_key}/responses"): RouteSpec(
        "campaign", body=lambda w: {"user_id": "matrix-user", "answers": {"q": "yes"}}
    ),
    ("GET", "/campaigns/{campaign_key}/feed"): RouteSpec("campaign"),
    # /v1/auth: the sign-in flow needs no credential.
    ("GET", "/auth/github/login"): RouteSpec("public"),
    ("GET", "/auth/github/callback"): RouteSpec("public"),
    ("POST", "/auth/logout"): RouteSpec("public"),
}


def _api_routes(routes: Any) -> Iterator[tuple[str, str]]:
    """``(method, path)`` of every APIRoute in a route table (FastAPI wraps included routers
    on recent versions; ``iter_route_contexts`` flattens them)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: include_router copies the routes
        contexts: Any = [r for r in routes if isinstance(r, APIRoute)]
    else:
        contexts = [
            c for c in iter_route_contexts(routes) if isinstance(c.original_route, APIRoute)
        ]
    for context in contexts:
        for method in sorted(context.methods or ()):
            yield method, context.path


#: The versioned routes, read from the same router the app mounts under /v1 (and /api).
VERSIONED = sorted(set(_api_routes(versioned_router().routes)))
MATRIX_ROUTES = [
    r for r in VERSIONED if ROUTES.get(r, RouteSpec("unclassified")).access != "public"
]

# ---- credentials ------------------------------------------------------------------------------

CREDENTIALS = [
    "ak_own",
    "ak_other",
    "sk_own",
    "sk_other",
    "sk_sibling",
    "pk_own",
    "aat_track",
    "aat_query",
    "aat_admin",
    "aat_admin_other",
    "aat_admin_sibling",
    "none",
    "malformed",
    "revoked_sk",
    "revoked_ak",
    "expired",
]
#: Credentials that belong to another tenant than the victim (another org, or another
#: project of the victim's org).
CROSS = {"ak_other", "sk_other", "sk_sibling", "aat_admin_other", "aat_admin_sibling"}
#: Credentials of the other org (their 2xx answers must not name the victim org).
OTHER_ORG = {"ak_other", "sk_other", "aat_admin_other"}
UNAUTHENTICATED = {
    "none": "missing_credentials",
    "malformed": "invalid_api_key",
    "revoked_sk": "key_revoked",
    "revoked_ak": "key_revoked",
    "expired": "token_expired",
}
PROJECT_KEYS = {
    "sk_own",
    "sk_other",
    "sk_sibling",
    "pk_own",
    "aat_track",
    "aat_query",
    "aat_admin",
    "aat_admin_other",
    "aat_admin_sibling",
}

Outcome = tuple[int, str | None]  # (200 for any 2xx, else the status; the error code)
ALLOWED: Outcome = (200, None)


def expected(method: str, path: str, credential: str) -> Outcome:
    """The outcome class of one matrix cell."""
    spec = ROUTES[(method, path)]
    if credential in UNAUTHENTICATED:
        return 401, UNAUTHENTICATED[credential]
    if spec.access == "session":
        return 403, "session_required"
    if spec.access == "org_admin":
        if credential in PROJECT_KEYS:
            return 403, "admin_key_required"
        assert credential in ("ak_own", "ak_other")
        if credential == "ak_own":
            return ALLOWED
        if "{org_id}" in path:
            return 404, "org_not_found"
        if "{project_id}" in path:
            return 404, "project_not_found"
        return ALLOWED  # no path parameter: the other org's own org (checked: no leak)
    if spec.access == "query":  # every project key reads its own project
        if credential in ("ak_own", "ak_other"):
            return 400, "project_required"
        if credential in ("sk_own", "sk_other", "sk_sibling", "aat_query"):
            return ALLOWED
        return 403, "insufficient_scope"
    if spec.access == "ingest":  # every project key writes into its own project
        if credential in ("ak_own", "ak_other"):
            return 403, "project_key_required"
        if credential in ("aat_query", "aat_admin", "aat_admin_other", "aat_admin_sibling"):
            return 403, "insufficient_scope"
        return ALLOWED
    if spec.access == "gdpr":  # the credential's own project; org admins must name it
        if credential in ("ak_own", "ak_other"):
            return 400, "project_required"
        if credential in ("pk_own", "aat_track", "aat_query"):
            return 403, "insufficient_scope"
        return ALLOWED
    if spec.access == "gdpr_job":  # a job of the victim's project
        if credential in CROSS or credential == "ak_other":
            return 404, "gdpr_job_not_found"
        if credential in ("pk_own", "aat_track", "aat_query"):
            return 403, "insufficient_scope"
        return ALLOWED
    if spec.access == "campaign":  # a campaign of the key's own project
        if credential in ("ak_own", "ak_other"):
            return 403, "project_key_required"
        if credential in ("aat_query", "aat_admin", "aat_admin_other", "aat_admin_sibling"):
            return 403, "insufficient_scope"
        if credential in ("sk_other", "sk_sibling"):
            return 404, "campaign_not_found"
        return ALLOWED
    if spec.access == "project_read":  # derived data: the query or the admin scope
        if credential in CROSS:
            return 404, "project_not_found"
        if credential in ("pk_own", "aat_track"):
            return 403, "insufficient_scope"
        return ALLOWED
    assert spec.access == "project", spec
    if credential in CROSS:
        return 404, "project_not_found"
    if credential in ("ak_own", "sk_own", "aat_admin"):
        return ALLOWED
    assert credential in ("pk_own", "aat_track", "aat_query")
    return 403, "insufficient_scope"


# ---- the world --------------------------------------------------------------------------------


@dataclass
class Tenant:
    org_id: str
    project_id: str
    project_name: str
    admin_key: str
    public_key: str
    secret_key: str


@dataclass
class World:
    victim: Tenant
    other: Tenant
    sibling_project_id: str
    #: A token of the victim's project that the token routes point at.
    target_token_id: str
    target_token: str
    credentials: dict[str, str | None] = field(default_factory=dict)
    #: A GDPR deletion job of the victim's project (queued, never run).
    gdpr_job_id: str = ""
    #: A segment of the victim's project that the segment routes point at.
    segment_id: str = ""
    #: An experiment and a feature of the victim's project that their routes point at.
    experiment_id: str = ""
    feature_id: str = ""
    #: A webhook endpoint of the victim's project that the webhook routes point at.
    webhook_id: str = ""
    #: A waitlist signup and a referral code in the victim's campaigns (CAMPAIGN_KEYS).
    signup_id: str = ""
    referral_code: str = ""

    @property
    def org_ids(self) -> list[str]:
        return [self.victim.org_id, self.other.org_id]


def _headers(key: str | None) -> dict[str, str]:
    return {"X-API-Key": key} if key is not None else {}


def _refused(client: TestClient, key: str) -> tuple[int, str | None]:
    response = client.get("/v1/admin/org", headers=_headers(key))
    if response.status_code < 300:
        return response.status_code, None
    return response.status_code, response.json()["error"]["code"]


def _tenant(catalog: Catalog, settings: Settings, org_name: str) -> Tenant:
    raw = bootstrap(catalog, settings, org_name=org_name, project_name="Web")
    return Tenant(
        org_id=raw["org_id"],
        project_id=raw["project_id"],
        project_name="Web",
        admin_key=raw["admin_key"],
        public_key=raw["public_key"],
        secret_key=raw["secret_key"],
    )


def _create_token(
    client: TestClient, tenant_key: str, project_id: str, scopes: list[str]
) -> dict[str, Any]:
    response = client.post(
        f"/v1/projects/{project_id}/tokens",
        headers=_headers(tenant_key),
        json={"name": "-".join(scopes), "scopes": scopes},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def build_world(catalog: Catalog, settings: Settings, client: TestClient) -> World:
    """Two orgs with a project each, a sibling project in the victim's org, and every kind of
    credential the matrix presents."""
    tag = uuid.uuid4().hex[:10]
    victim = _tenant(catalog, settings, f"Acme {tag}")
    other = _tenant(catalog, settings, f"Globex {tag}")
    with catalog.begin() as conn:
        sibling = insert_project(conn, settings, victim.org_id, ProjectCreate(name="Mobile"))
        sibling_id = sibling["project"]["id"]

        def issue(
            kind: KeyKind,
            org_id: str,
            project_id: str | None,
            scopes: list[str] | None = None,
            expires_in: timedelta = timedelta(hours=1),
            revoked: bool = False,
        ) -> str:
            expires_at = utcnow() + expires_in if kind == "token" else None
            raw, row = catalog_keys.issue(
                conn,
                settings,
                kind,
                org_id=org_id,
                project_id=project_id,
                name=kind,
                scopes=scopes,
                expires_at=expires_at,
            )
            if revoked:
                catalog_keys.revoke(conn, api_keys.c.id == row["id"])
            return raw

        victim_project = (victim.org_id, victim.project_id)
        credentials: dict[str, str | None] = {
            "ak_own": victim.admin_key,
            "ak_other": other.admin_key,
            "sk_own": victim.secret_key,
            "sk_other": other.secret_key,
            "sk_sibling": sibling["secret_key"],
            "pk_own": victim.public_key,
            "aat_track": issue("token", *victim_project, ["track"]),
            "aat_query": issue("token", *victim_project, ["query"]),
            "aat_admin": issue("token", *victim_project, ["admin"]),
            "aat_admin_other": issue("token", other.org_id, other.project_id, ["admin"]),
            "aat_admin_sibling": issue("token", victim.org_id, sibling_id, ["admin"]),
            "none": None,
            "malformed": victim.secret_key[:-1] + ("A" if victim.secret_key[-1] != "A" else "B"),
            "revoked_sk": issue("secret", *victim_project, revoked=True),
            "revoked_ak": issue("admin", victim.org_id, None, revoked=True),
            "expired": issue(
                "token",
                *victim_project,
                ["admin", "query", "track"],
                expires_in=timedelta(minutes=-1),
            ),
        }
    # The token the token routes point at is created the way callers create tokens.
    target = _create_token(client, victim.secret_key, victim.project_id, ["query"])
    webhook = client.post(
        f"/v1/projects/{victim.project_id}/webhooks",
        headers=_headers(victim.secret_key),
        json={"url": "https://93.184.215.14/matrix"},
    )
    assert webhook.status_code == 201, webhook.text
    with catalog.begin() as conn:
        job = gdpr.create_job(
            conn, settings, {"id": victim.project_id, "org_id": victim.org_id}, "matrix-user"
        )
    return World(
        victim=victim,
        other=other,
        sibling_project_id=sibling_id,
        target_token_id=target["id"],
        target_token=target["token"],
        credentials=credentials,
        gdpr_job_id=job["id"],
        segment_id=_derived_data(catalog, settings, victim),
        webhook_id=webhook.json()["id"],
        **_experiment_data(catalog, victim),
        **_campaign_data(catalog, settings, victim.project_id),
    )


#: The victim's campaigns, one of each type (active), and the words of a path that pick one.
CAMPAIGN_KEYS = {
    "waitlist": "matrix-waitlist",
    "referral": "matrix-referral",
    "survey": "matrix-survey",
    "social_proof": "matrix-proof",
}
CAMPAIGN_CONFIGS: dict[str, dict[str, Any]] = {
    "waitlist": {"title": "Matrix"},
    "referral": {"rewards": [{"name": "Mug", "threshold": 1}]},
    "survey": {
        "questions": [{"id": "q", "type": "single", "prompt": "?", "options": ["yes", "no"]}]
    },
    "social_proof": {"event_types": ["signup"]},
}
_CAMPAIGN_BY_WORD = {
    "waitlist": "waitlist",
    "signups": "waitlist",
    "referrals": "referral",
    "leaderboard": "referral",
    "survey": "survey",
    "responses": "survey",
    "summary": "survey",
    "feed": "social_proof",
}


def _campaign_key(path: str) -> str:
    """The victim's campaign a route's path points at (by the words in it)."""
    for word in path.split("/"):
        kind = _CAMPAIGN_BY_WORD.get(word.removesuffix(".csv"))
        if kind is not None:
            return CAMPAIGN_KEYS[kind]
    return CAMPAIGN_KEYS["waitlist"]


def _campaign_data(catalog: Catalog, settings: Settings, project_id: str) -> dict[str, str]:
    """One active campaign of each type in ``project_id``, a signup on its waitlist and a
    referral code of its programme."""
    now = utcnow()
    with catalog.begin() as conn:
        for kind, key in CAMPAIGN_KEYS.items():
            conn.execute(
                insert(campaigns_table).values(
                    id=new_id("cmp"),
                    project_id=project_id,
                    key=key,
                    type=kind,
                    name=key,
                    status="active",
                    config=CAMPAIGN_CONFIGS[kind],
                    created_at=now,
                    updated_at=now,
                )
            )
    signup, _ = campaign_waitlist.join(
        catalog,
        settings,
        project_id,
        CAMPAIGN_KEYS["waitlist"],
        campaign_waitlist.WaitlistJoin(email="matrix@example.com"),
    )
    code = campaign_referrals.referral_code(
        catalog,
        settings,
        project_id,
        CAMPAIGN_KEYS["referral"],
        campaign_referrals.ReferralCodeRequest(user_id="matrix-referrer"),
    )
    return {"signup_id": signup["signup_id"], "referral_code": code["code"]}


def _experiment_data(catalog: Catalog, victim: Tenant) -> dict[str, str]:
    """An experiment and a feature flag of the victim's project: their ids."""
    now = utcnow()
    ids = {"experiment_id": new_id("exp"), "feature_id": new_id("feat")}
    with catalog.begin() as conn:
        conn.execute(
            insert(experiments_table).values(
                id=ids["experiment_id"],
                project_id=victim.project_id,
                key="matrix-experiment",
                status="draft",
                config={
                    "variations": [{"value": 0}, {"value": 1}],
                    "goal": 'event_type = "purchase"',
                },
                created_at=now,
                updated_at=now,
            )
        )
        conn.execute(
            insert(features_table).values(
                id=ids["feature_id"],
                project_id=victim.project_id,
                key="matrix-flag",
                config={"default_value": False},
                created_at=now,
                updated_at=now,
            )
        )
    return ids


def _derived_data(catalog: Catalog, settings: Settings, victim: Tenant) -> str:
    """A segment of the victim's project, and a profile of ``matrix-user`` in the lake (what
    the derived-data routes read); the segment's id."""
    now = utcnow()
    segment_id = new_id("seg")
    with catalog.begin() as conn:
        conn.execute(
            insert(segments_table).values(
                id=segment_id,
                project_id=victim.project_id,
                name="Buyers",
                filter='event_type = "purchase"',
                window_days=30,
                description=None,
                created_at=now,
                updated_at=now,
            )
        )
    replace_project(
        settings,
        PROFILES,
        victim.project_id,
        pl.DataFrame({"user_id": ["matrix-user"], "properties": ['{"plan":"pro"}']}),
    )
    return segment_id


def snapshot(catalog: Catalog, org_ids: list[str]) -> dict[str, list[str]]:
    """Every control-plane row of the given orgs, as comparable text."""
    queries = {
        "orgs": select(orgs).where(orgs.c.id.in_(org_ids)),
        "projects": select(projects).where(projects.c.org_id.in_(org_ids)),
        "api_keys": select(api_keys).where(api_keys.c.org_id.in_(org_ids)),
        "memberships": select(memberships).where(memberships.c.org_id.in_(org_ids)),
        "audit_log": select(audit_log).where(
            or_(audit_log.c.org_id.in_(org_ids), audit_log.c.org_id.is_(None))
        ),
    }
    with catalog.connect() as conn:
        return {
            name: sorted(repr(sorted(dict(row).items())) for row in conn.execute(query).mappings())
            for name, query in queries.items()
        }


# ---- fixtures (module-wide app; a fresh world per case) ---------------------------------------


@pytest.fixture(scope="module")
def matrix_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir: Path = tmp_path_factory.mktemp("authz") / "data"
    return Settings(
        _env_file=None,
        env="test",
        data_dir=data_dir,  # type: ignore[call-arg]
        secret_key="test-secret-" + "x" * 40,
        rate_limits_enabled=False,
        webhooks_worker_enabled=False,  # no delivery leaves for the public test address
    )


@pytest.fixture(scope="module")
def matrix_catalog(matrix_settings: Settings) -> Iterator[Catalog]:
    catalog = Catalog.open(matrix_settings)
    yield catalog
    catalog.dispose()


@pytest.fixture(scope="module")
def matrix_app(matrix_settings: Settings, matrix_catalog: Catalog) -> FastAPI:
    return create_app(matrix_settings, catalog=matrix_catalog)


@pytest.fixture(scope="module")
def matrix_client(matrix_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(matrix_app) as client:
        yield client


@pytest.fixture
def world(matrix_catalog: Catalog, matrix_settings: Settings, matrix_client: TestClient) -> World:
    return build_world(matrix_catalog, matrix_settings, matrix_client)


def _url(prefix: str, path: str, world: World) -> str:
    return prefix + path.format(
        project_id=world.victim.project_id,
        org_id=world.victim.org_id,
        token_id=world.target_token_id,
        user_id="matrix-user",
        job_id=world.gdpr_job_id,
        segment_id=world.segment_id,
        experiment_id=world.experiment_id,
        feature_id=world.feature_id,
        webhook_id=world.webhook_id,
        campaign_key=_campaign_key(path),
        signup_id=world.signup_id,
    )


def _call(
    client: TestClient,
    method: str,
    url: str,
    key: str | None,
    body: Any,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> Any:
    return client.request(
        method,
        url,
        headers=headers if headers is not None else _headers(key),
        params=params,
        json=body,
    )


def _outcome(response: Any) -> Outcome:
    if 200 <= response.status_code < 300:
        return ALLOWED
    payload = response.json()
    assert set(payload) == {"error", "request_id"}, payload
    return response.status_code, payload["error"]["code"]


# ---- the tests --------------------------------------------------------------------------------


def test_every_versioned_route_is_classified(matrix_app: FastAPI) -> None:
    """The app's /v1 routes and the expectations table are the same set: a new route fails
    here until it is classified, and a removed one until its row goes."""
    mounted = {
        (m, p.removeprefix("/v1"))
        for m, p in _api_routes(matrix_app.routes)
        if p.startswith("/v1/")
    }
    aliased = {
        (m, p.removeprefix("/api"))
        for m, p in _api_routes(matrix_app.routes)
        if p.startswith("/api/")
    }
    assert mounted, "no /v1 routes found in app.routes"
    assert sorted(mounted - set(ROUTES)) == [], "unclassified routes: add them to ROUTES"
    assert sorted(set(ROUTES) - mounted) == [], "ROUTES names routes the app does not have"
    assert aliased == mounted, "/api must alias every /v1 route"
    assert set(VERSIONED) == mounted


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize(
    ("method", "path"), MATRIX_ROUTES, ids=[f"{m} {p}" for m, p in MATRIX_ROUTES]
)
def test_authorization_matrix(
    method: str,
    path: str,
    credential: str,
    world: World,
    matrix_client: TestClient,
    matrix_catalog: Catalog,
) -> None:
    assert (method, path) in ROUTES, f"{method} {path} is not classified in ROUTES"
    spec = ROUTES[(method, path)]
    key = world.credentials[credential]
    body = spec.body(world) if spec.body else None
    before = snapshot(matrix_catalog, world.org_ids)
    victim_before = snapshot(matrix_catalog, [world.victim.org_id])

    response = _call(matrix_client, method, _url("/v1", path, world), key, body)

    want = expected(method, path, credential)
    assert _outcome(response) == want, (
        f"{method} /v1{path} with {credential}: expected {want}, "
        f"got {response.status_code} {response.text[:300]}"
    )
    if want != ALLOWED:
        assert snapshot(matrix_catalog, world.org_ids) == before, "a refused call changed rows"
        return
    # No 2xx names a tenant the credential does not belong to.
    text = response.text
    if credential in OTHER_ORG:
        for foreign in (world.victim.org_id, world.victim.project_id, world.sibling_project_id):
            assert foreign not in text
        assert snapshot(matrix_catalog, [world.victim.org_id]) == victim_before
    else:
        for foreign in (world.other.org_id, world.other.project_id):
            assert foreign not in text
    if spec.effect is not None and credential not in OTHER_ORG:
        spec.effect(world, matrix_client, response.json() if response.content else None)


# ---- key presentation, /api alias, mixed paths -----------------------------------------------


@pytest.mark.parametrize(
    ("credential", "want"),
    [
        ("sk_own", ALLOWED),
        ("aat_admin", ALLOWED),
        ("pk_own", (403, "insufficient_scope")),
        ("ak_other", (404, "project_not_found")),
        ("revoked_sk", (401, "key_revoked")),
        ("malformed", (401, "invalid_api_key")),
    ],
)
@pytest.mark.parametrize("form", ["x-api-key", "bearer", "query"])
def test_key_is_accepted_in_all_three_places(
    form: str, credential: str, want: Outcome, world: World, matrix_client: TestClient
) -> None:
    key = world.credentials[credential]
    assert key is not None
    url = f"/v1/projects/{world.victim.project_id}"
    headers: dict[str, str] = {}
    params: dict[str, str] | None = None
    if form == "x-api-key":
        headers["X-API-Key"] = key
    elif form == "bearer":
        headers["Authorization"] = f"Bearer {key}"
    else:
        params = {"key": key}
    response = _call(matrix_client, "GET", url, None, None, headers=headers, params=params)
    assert _outcome(response) == want, response.text
    if want == ALLOWED:
        assert response.json()["id"] == world.victim.project_id


def test_a_bad_key_is_not_rescued_by_a_good_one(world: World, matrix_client: TestClient) -> None:
    """The first credential presented decides: a pk_ in X-API-Key does not fall back to an
    sk_ in the query string."""
    response = matrix_client.get(
        f"/v1/projects/{world.victim.project_id}/tokens",
        headers={"X-API-Key": world.victim.public_key},
        params={"key": world.victim.secret_key},
    )
    assert _outcome(response) == (403, "insufficient_scope")


ALIAS_SAMPLE = [
    ("GET", "/admin/org"),
    ("GET", "/admin/projects/{project_id}"),
    ("GET", "/projects/{project_id}"),
    ("PATCH", "/projects/{project_id}/settings"),
    ("GET", "/projects/{project_id}/tokens/{token_id}"),
    ("GET", "/orgs"),
    ("GET", "/orgs/{org_id}/projects"),
    ("GET", "/me"),
]


@pytest.mark.parametrize("credential", CREDENTIALS)
def test_api_alias_answers_like_v1(
    credential: str, world: World, matrix_client: TestClient
) -> None:
    key = world.credentials[credential]
    for method, path in ALIAS_SAMPLE:
        spec = ROUTES[(method, path)]
        body = spec.body(world) if spec.body else None
        v1 = _call(matrix_client, method, _url("/v1", path, world), key, body)
        alias = _call(matrix_client, method, _url("/api", path, world), key, body)
        assert _outcome(alias) == _outcome(v1) == expected(method, path, credential), (
            method,
            path,
            alias.text,
            v1.text,
        )
        if v1.status_code == 200 and method == "GET":
            assert alias.json() == v1.json()


@pytest.mark.parametrize(
    ("method", "template", "body"),
    [
        (
            "DELETE",
            "/v1/orgs/{own_org}/projects/{other_project}",
            {"project_name": "Web", "project_name_confirm": "Web"},
        ),
        (
            "DELETE",
            "/v1/orgs/{other_org}/projects/{own_project}",
            {"project_name": "Web", "project_name_confirm": "Web"},
        ),
        (
            "DELETE",
            "/v1/orgs/{other_org}/projects/{other_project}",
            {"project_name": "Web", "project_name_confirm": "Web"},
        ),
        ("POST", "/v1/orgs/{other_org}/projects", {"name": "Planted"}),
        ("GET", "/v1/orgs/{other_org}/projects", None),
        ("POST", "/v1/orgs/{other_org}/rotate-admin-key", None),
        ("GET", "/v1/projects/{own_project}/tokens/{other_token}", None),
        ("DELETE", "/v1/projects/{own_project}/tokens/{other_token}", None),
        ("GET", "/v1/projects/{other_project}/tokens/{other_token}", None),
    ],
)
def test_mixed_paths_never_reach_the_other_tenant(
    method: str,
    template: str,
    body: Any,
    world: World,
    matrix_client: TestClient,
    matrix_catalog: Catalog,
) -> None:
    """An admin key of one org, pointed at a path that mixes its own ids with another
    tenant's, answers 404 and changes nothing of the other tenant."""
    other_token = _create_token(
        matrix_client, world.other.secret_key, world.other.project_id, ["query"]
    )
    before = snapshot(matrix_catalog, [world.other.org_id])
    url = template.format(
        own_org=world.victim.org_id,
        own_project=world.victim.project_id,
        other_org=world.other.org_id,
        other_project=world.other.project_id,
        other_token=other_token["id"],
    )
    response = _call(matrix_client, method, url, world.victim.admin_key, body)
    assert response.status_code == 404, response.text
    if "{other_token}" in template and "{own_project}" in template:
        assert response.json()["error"]["code"] == "token_not_found"
    assert snapshot(matrix_catalog, [world.other.org_id]) == before


def test_a_public_key_sees_only_its_own_projects_campaigns(
    world: World, matrix_client: TestClient, matrix_catalog: Catalog, matrix_settings: Settings
) -> None:
    """Two projects with campaigns of the same keys: each public key reaches its own
    project's; the other project's signups and codes do not exist for it, and a key only the
    other project has answers 404."""
    other = _campaign_data(matrix_catalog, matrix_settings, world.other.project_id)
    with matrix_catalog.begin() as conn:
        conn.execute(
            update(campaigns_table)
            .where(
                campaigns_table.c.project_id == world.other.project_id,
                campaigns_table.c.key == CAMPAIGN_KEYS["waitlist"],
            )
            .values(config={"title": "Other"})
        )
        conn.execute(
            update(campaigns_table)
            .where(
                campaigns_table.c.project_id == world.victim.project_id,
                campaigns_table.c.key == CAMPAIGN_KEYS["survey"],
            )
            .values(key="victim-only")
        )
    victim_pk, other_pk = _headers(world.victim.public_key), _headers(world.other.public_key)
    waitlist_url = f"/v1/campaigns/{CAMPAIGN_KEYS['waitlist']}"
    titles = [
        matrix_client.get(waitlist_url, headers=key).json()["config"]["title"]
        for key in (victim_pk, other_pk)
    ]
    assert titles == ["Matrix", "Other"]
    for headers, signup_id in ((other_pk, world.signup_id), (victim_pk, other["signup_id"])):
        response = matrix_client.get(f"{waitlist_url}/waitlist/{signup_id}", headers=headers)
        assert _outcome(response) == (404, "signup_not_found")
    attribution = matrix_client.post(
        f"/v1/campaigns/{CAMPAIGN_KEYS['referral']}/referrals/attribute",
        headers=other_pk,
        json={"code": world.referral_code, "user_id": "someone"},
    )
    assert _outcome(attribution) == (404, "referral_code_not_found")
    for path in ("", "/survey", "/responses"):
        method = "POST" if path == "/responses" else "GET"
        body = {"user_id": "u", "answers": {"q": "yes"}} if method == "POST" else None
        response = _call(
            matrix_client, method, f"/v1/campaigns/victim-only{path}", world.other.public_key, body
        )
        assert _outcome(response) == (404, "campaign_not_found")
    assert matrix_client.get("/v1/campaigns/victim-only", headers=victim_pk).status_code == 200
