"""The management client against a live server: typed calls, typed errors, pagination and
Idempotency-Key, over a real socket to uvicorn on loopback."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from urllib.parse import parse_qs

import httpx2
import pytest

from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.orgs import bootstrap
from growthos_pipeline.client import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GrowthOS,
    ManagementClient,
    NotFoundError,
    PermissionDeniedError,
    UnprocessableEntityError,
)
from growthos_pipeline.client.models import (
    Campaign,
    Experiment,
    Feature,
    ProjectCreated,
    QueryResult,
    Segment,
    TokenCreated,
)
from tests.client.server import Live, live_server
from tests.conftest import MakeSettings


@pytest.fixture
def admin(live: Live, keys: dict[str, str]) -> Iterator[ManagementClient]:
    with ManagementClient(keys["admin_key"], live.url) as client:
        yield client


@pytest.fixture
def client(live: Live, keys: dict[str, str]) -> Iterator[ManagementClient]:
    with ManagementClient(keys["secret_key"], live.url, project_id=keys["project_id"]) as client:
        yield client


def test_a_project_is_set_up_with_typed_calls(live: Live, admin: ManagementClient) -> None:
    assert admin.org.get().name == "Acme"
    created = admin.projects.create("Shop", timezone="Europe/Berlin", retention_days=90)
    assert isinstance(created, ProjectCreated)
    assert created.secret_key.startswith("sk_") and created.public_key.startswith("pk_")
    assert created.secret_key not in repr(created)
    assert isinstance(created.created_at, datetime) and created.timezone == "Europe/Berlin"
    assert "Shop" in [p.name for p in admin.projects.list()]

    with ManagementClient(created.secret_key, live.url, project_id=created.id) as shop:
        assert shop.projects.get().retention_days == 90
        assert shop.projects.update_settings(retention_days=None).retention_days is None

        token = shop.tokens.create("notebook", scopes=["query"], expires_in="24h")
        assert isinstance(token, TokenCreated) and token.token.startswith("aat_")
        assert shop.tokens.get(token.id).status == "active"
        assert shop.tokens.revoke(token.id).status == "revoked"

        segment = shop.segments.create("Buyers", filter='event_type = "purchase"', window_days=7)
        assert isinstance(segment, Segment) and segment.window_days == 7
        renamed = shop.segments.update(segment.id, name="Recent buyers", description="7 days")
        assert (renamed.name, renamed.description) == ("Recent buyers", "7 days")
        assert shop.segments.update(segment.id, description=None).description is None
        assert shop.segments.get(segment.id).name == "Recent buyers"

        experiment = shop.experiments.create(
            "checkout-layout",
            variations=[{"key": "control", "value": "classic"}, {"key": "b", "value": "one"}],
            weights=(0.5, 0.5),
            status="running",
            targeting={"condition": {"country": {"$in": ["FR"]}}},
        )
        assert isinstance(experiment, Experiment) and experiment.weights == [0.5, 0.5]
        assert shop.experiments.update("checkout-layout", coverage=0.5).coverage == 0.5
        feature = shop.features.create(
            "new-checkout",
            value_type="string",
            default_value="classic",
            rules=[{"type": "experiment", "experiment": "checkout-layout"}],
        )
        assert isinstance(feature, Feature) and feature.rules[0]["experiment"] == "checkout-layout"
        with pytest.raises(ConflictError) as in_use:
            shop.experiments.delete("checkout-layout")
        assert in_use.value.code == "experiment_in_use"
        assert shop.features.delete("new-checkout").deleted is True
        assert shop.experiments.delete(experiment.id).deleted is True
        assert shop.segments.delete(segment.id).deleted is True

        actions = [entry.action for entry in shop.projects.audit()]
        assert {"segment.create", "segment.update", "segment.delete"} <= set(actions)
        assert shop.usage().project_id == created.id

    deleted = admin.projects.delete(created.id, confirm_name="Shop")
    assert deleted.deleted is True
    with pytest.raises(NotFoundError):
        admin.projects.get(created.id)


def test_webhooks_are_registered_pinged_and_deleted(make_settings: MakeSettings) -> None:
    # Loopback endpoints are refused unless the deployment allows them; the delivery worker
    # is off in tests, so nothing is sent to the port below.
    settings = make_settings(webhooks_allow_private=True)
    catalog = Catalog.open(settings)
    try:
        keys = bootstrap(catalog, settings, org_name="Acme", project_name="Web")
        with (
            live_server(settings, catalog) as live,
            ManagementClient(keys["secret_key"], live.url, project_id=keys["project_id"]) as client,
        ):
            hook = client.webhooks.create("http://127.0.0.1:9/hook", description="ci")
            assert hook.secret.startswith("whsec_") and hook.secret not in repr(hook)
            assert [w.id for w in client.webhooks.list()] == [hook.id]
            assert client.webhooks.get(hook.id).description == "ci"
            assert client.webhooks.test(hook.id).event_type == "webhook.test"
            assert client.webhooks.deliveries(hook.id).to_list() == []
            assert client.webhooks.delete(hook.id).deleted is True
            assert client.webhooks.list().to_list() == []
    finally:
        catalog.dispose()


def test_errors_carry_the_envelope(live: Live, client: ManagementClient) -> None:
    with pytest.raises(NotFoundError) as missing:
        client.segments.get("seg_nope")
    err = missing.value
    assert (err.status, err.code) == (404, "segment_not_found")
    seen = live.faults.requests("GET", f"/v1/projects/{client.project_id}/segments/seg_nope")
    assert err.request_id == seen[-1].answer_headers["x-request-id"]
    assert "segment_not_found" in str(err) and err.request_id in str(err)

    with pytest.raises(BadRequestError) as bad:
        client.segments.create("Typo", filter='event_type = "a" |')
    assert bad.value.code == "invalid_segment_filter"
    assert bad.value.details[0]["field"] == "filter" and "column" in bad.value.details[0]

    with pytest.raises(UnprocessableEntityError) as invalid:
        client.segments.create("Too long a window", filter='event_type = "a"', window_days=900)
    assert invalid.value.code == "validation_error" and invalid.value.details

    query_token = client.tokens.create("reader", scopes=["query"]).token
    with ManagementClient(query_token, live.url, project_id=client.project_id) as reader:
        with pytest.raises(PermissionDeniedError) as denied:
            reader.segments.create("Nope", filter='event_type = "a"')
        assert denied.value.code == "insufficient_scope"
        assert reader.segments.list().to_list() == []

    with ManagementClient("sk_not_a_real_key", live.url, project_id="proj_x") as stranger:
        with pytest.raises(AuthenticationError) as unknown:
            stranger.projects.get()
        assert unknown.value.code == "invalid_api_key"


def test_lists_are_iterated_page_by_page(live: Live, client: ManagementClient) -> None:
    made = [client.tokens.create(f"t{n}", scopes=["track"]).id for n in range(7)]
    pager = client.tokens.list(page_size=3)
    assert [token.id for token in pager] == made  # creation order, across three pages
    path = f"/v1/projects/{client.project_id}/tokens"
    requests = live.faults.requests("GET", path)
    assert len(requests) == 3
    cursors = [parse_qs(r.query).get("cursor") for r in requests]
    assert cursors[0] is None and cursors[1] and cursors[2] and cursors[1] != cursors[2]
    assert [len(page.data) for page in pager.pages()] == [3, 3, 1]
    first = pager.first_page()
    assert first.has_more and first.next_cursor


def test_the_same_idempotency_key_gets_the_first_answer(
    live: Live, admin: ManagementClient
) -> None:
    first = admin.projects.create("Blog", idempotency_key="create-blog")
    again = admin.projects.create("Blog", idempotency_key="create-blog")
    assert again.id == first.id and again.secret_key == first.secret_key
    replay = live.faults.requests("POST", "/v1/admin/projects")[-1]
    assert replay.answer_headers.get("idempotent-replayed") == "true"
    assert [p.name for p in admin.projects.list()].count("Blog") == 1

    with pytest.raises(ConflictError) as reused:
        admin.projects.create("Other blog", idempotency_key="create-blog")
    assert reused.value.code == "idempotency_key_reused"


def test_every_post_gets_its_own_key(live: Live, client: ManagementClient) -> None:
    client.segments.create("A", filter='event_type = "a"')
    client.segments.create("B", filter='event_type = "a"')
    posts = live.faults.requests("POST", f"/v1/projects/{client.project_id}/segments")
    keys = [p.headers["idempotency-key"] for p in posts]
    assert len(set(keys)) == 2 and all(len(k) == 36 for k in keys)
    assert [s.name for s in client.segments.list()] == ["A", "B"]


def test_query_answers_rows_and_a_dataframe(
    live: Live, client: ManagementClient, keys: dict[str, str]
) -> None:
    with GrowthOS(keys["public_key"], live.url) as analytics:
        for n in range(5):
            analytics.track("signup" if n % 2 else "visit", user_id=f"u{n}")
        assert analytics.flush(timeout=10)
    live.server.app.state.ingestor.flush_now()

    answer = client.query("last 1d | count by event_type | sort event_type")
    assert isinstance(answer, QueryResult) and answer.lake_version is not None
    assert answer.rows == [
        {"event_type": "signup", "count": 2},
        {"event_type": "visit", "count": 3},
    ]
    frame = answer.to_polars()
    assert frame.columns == ["event_type", "count"] and frame["count"].sum() == 5

    rows = list(client.query_rows("last 1d | sort user_id", page_size=2))
    assert [r["user_id"] for r in rows] == ["u0", "u1", "u2", "u3", "u4"]
    bodies = [r.json() for r in live.faults.requests("POST", "/v1/query")[-3:]]
    assert [b["offset"] for b in bodies] == [0, 2, 4]
    assert "as_of" not in bodies[0]
    assert bodies[1]["as_of"] == bodies[2]["as_of"]  # later pages read the first's version

    with pytest.raises(BadRequestError) as syntax:
        client.query("last week")
    assert syntax.value.status == 400
    assert (syntax.value.details[0]["line"], syntax.value.details[0]["column"]) == (1, 6)


def test_gdpr_export_and_delete(live: Live, client: ManagementClient, keys: dict[str, str]) -> None:
    with GrowthOS(keys["public_key"], live.url) as analytics:
        analytics.track("signup", user_id="erase-me", insert_id="g1")
        analytics.track("visit", user_id="someone-else", insert_id="g2")
    live.server.app.state.ingestor.flush_now()

    exported = list(client.gdpr.export_user("erase-me"))
    assert [e["insert_id"] for e in exported] == ["g1"]
    job = client.gdpr.delete_user("erase-me")
    assert job.status in ("queued", "running", "completed")
    assert client.gdpr.job(job.id).id == job.id
    assert [j.id for j in client.gdpr.jobs(user_id="erase-me")] == [job.id]
    with pytest.raises(NotFoundError) as no_profile:
        client.users.get("erase-me")
    assert no_profile.value.code == "user_not_found"


def test_the_client_loads_neither_the_server_nor_the_lake() -> None:
    code = (
        "import sys, growthos_pipeline.client;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette', "
        "'api', 'dagster', 'dagster_project', 'polars', 'deltalake', 'sqlalchemy', 'pyarrow'));"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_a_waitlist_is_run_from_the_client(
    live: Live, client: ManagementClient, keys: dict[str, str]
) -> None:
    beta = client.campaigns.create(
        "beta", type="waitlist", name="Beta list", config={"title": "Join the beta"}
    )
    assert isinstance(beta, Campaign) and beta.status == "draft"
    assert client.campaigns.update("beta", status="active").status == "active"
    assert client.campaigns.get(beta.id).config["title"] == "Join the beta"

    with httpx2.Client(base_url=live.url, headers={"X-API-Key": keys["public_key"]}) as web:
        for email in ("ada@example.com", "grace@example.com", "alan@example.com"):
            assert web.post("/v1/campaigns/beta/waitlist", json={"email": email}).status_code == 201

    signups = client.campaigns.signups("beta", page_size=2).to_list()
    assert [(s.email, s.position) for s in signups] == [
        ("ada@example.com", 1),
        ("grace@example.com", 2),
        ("alan@example.com", 3),
    ]
    invited = client.campaigns.invite("beta", signups[1].id)
    assert invited.invited_at is not None
    found = client.campaigns.signups("beta", email="GRACE@example.com").to_list()
    assert [(s.id, s.position) for s in found] == [(signups[1].id, 2)]
    assert client.campaigns.delete_signup("beta", found[0].id) is None
    assert client.campaigns.signups("beta", email="grace@example.com").to_list() == []
    assert [(s.email, s.position) for s in client.campaigns.signups("beta")] == [
        ("ada@example.com", 1),
        ("alan@example.com", 2),
    ]
    with pytest.raises(NotFoundError) as erased:
        client.campaigns.delete_signup("beta", found[0].id)
    assert erased.value.code == "signup_not_found"
    csv = client.campaigns.export_signups("beta").splitlines()
    assert csv[0].startswith("position,email") and len(csv) == 3
    assert len(client.campaigns.leaderboard("beta", limit=5).entries) <= 5
    assert isinstance(client.campaigns.summary("beta"), dict)
    assert [c.key for c in client.campaigns.list()] == ["beta"]
    assert client.campaigns.delete("beta").deleted is True
    with pytest.raises(NotFoundError) as gone:
        client.campaigns.get("beta")
    assert gone.value.code == "campaign_not_found"


def test_experiment_results_are_read_from_the_lake(
    live: Live, client: ManagementClient, keys: dict[str, str]
) -> None:
    client.experiments.create(
        "cta-colour",
        variations=[{"key": "blue", "value": "blue"}, {"key": "green", "value": "green"}],
        status="running",
        goal='event_type = "signup"',
    )
    with GrowthOS(keys["public_key"], live.url) as analytics:
        for n in range(12):
            user = f"u{n}"
            exposure = {"experiment_id": "cta-colour", "variation_id": n % 2}
            analytics.track("$exposure", user_id=user, properties=exposure)
            if n < 4:
                analytics.track("signup", user_id=user)
    live.server.app.state.ingestor.flush_now()

    results = client.experiments.results("cta-colour", fresh=True)
    assert (results.experiment, results.goal, results.stored) == (
        "cta-colour",
        'event_type = "signup"',
        False,
    )
    assert [(v.key, v.users, v.conversions) for v in results.variations] == [
        ("blue", 6, 2),
        ("green", 6, 2),
    ]
    assert results.variations[1].relative_uplift == 0.0 and results.srm.mismatch is False
    assert client.experiments.get("cta-colour").goal == 'event_type = "signup"'
