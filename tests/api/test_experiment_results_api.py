"""``GET /v1/projects/{project_id}/experiments/{experiment_id}/results`` over the real app: the
results of exposures the real ``growthbook`` SDK sent (over a socket, with its tracking
plugin, reading the configuration GrowthOS serves), stored results against fresh ones, and the
errors in the envelope."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from growthbook import GrowthBook
from growthbook.plugins import growthbook_tracking_plugin

from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.experiments.results import build_experiment_results
from growthos_pipeline.settings import Settings
from tests.adapters.live_server import LiveServer, serve
from tests.conftest import auth

CTA: dict[str, Any] = {
    "key": "cta-copy",
    "status": "running",
    "variations": [{"value": "Buy", "key": "buy"}, {"value": "Get it", "key": "get-it"}],
    "goal": 'event_type = "checkout_completed"',
}
FEATURE: dict[str, Any] = {
    "key": "cta-text",
    "value_type": "string",
    "default_value": "Buy",
    "rules": [{"type": "experiment", "experiment": "cta-copy"}],
}


@pytest.fixture
def live(app: Any, settings: Settings) -> Iterator[LiveServer]:
    with serve(app, settings) as server:
        yield server


def test_results_of_the_exposures_the_growthbook_sdk_sent(
    live: LiveServer, keys: dict[str, str]
) -> None:
    sk, pk, project = keys["secret_key"], keys["public_key"], keys["project_id"]
    base = f"{live.url}/v1/projects/{project}"
    assert httpx2.post(f"{base}/experiments", headers=auth(sk), json=CTA).status_code == 201
    assert httpx2.post(f"{base}/features", headers=auth(sk), json=FEATURE).status_code == 201

    plugin = growthbook_tracking_plugin(
        ingestor_host=f"{live.url}/growthbook", batch_size=500, batch_timeout=60
    )
    gb = GrowthBook(api_host=f"{live.url}/growthbook", client_key=pk, plugins=[plugin])
    gb.load_features()
    assigned: dict[str, int] = {}
    for i in range(120):
        user = f"shopper-{i}"
        gb.set_attributes({"id": user, "user_id": user})
        result = gb.eval_feature("cta-text")
        assert result.source == "experiment" and result.experimentResult is not None
        assigned[user] = result.experimentResult.variationId
    gb.destroy()  # the plugin posts its batch
    (attempt,) = live.recorder.wait_for("/growthbook/track", 1)
    # An exposure and a feature evaluation (which names the experiment too) per user.
    assert attempt.answer == {"accepted": 240, "rejected": []}

    # Users of "Get it" check out one time in two, those of "Buy" one time in six.
    buyers = [u for i, (u, v) in enumerate(assigned.items()) if i % (2 if v else 6) == 0]
    events = [{"event_type": "checkout_completed", "user_id": u} for u in buyers]
    events.append({"event_type": "page_view", "user_id": buyers[0]})
    sent = httpx2.post(f"{live.url}/v1/track", headers=auth(pk), json={"events": events})
    assert sent.json()["accepted"] == len(events)
    live.app.state.ingestor.flush_now()

    answer = httpx2.get(
        f"{base}/experiments/cta-copy/results", headers=auth(sk), params={"fresh": "true"}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    users = [sum(1 for v in assigned.values() if v == i) for i in (0, 1)]
    conversions = [sum(1 for u in buyers if assigned[u] == i) for i in (0, 1)]
    assert [v["users"] for v in body["variations"]] == users
    assert [v["conversions"] for v in body["variations"]] == conversions
    assert [v["key"] for v in body["variations"]] == ["buy", "get-it"]
    treated = body["variations"][1]
    assert treated["rate"] == pytest.approx(conversions[1] / users[1])
    assert treated["absolute_uplift"] > 0 and len(treated["absolute_ci"]) == 2
    assert 0 <= treated["p_value"] <= 1 and 0 <= treated["chance_to_win"] <= 1
    assert body["exposures"]["events"] == 120 and body["exposures"]["conflicting_users"] == 0
    assert body["replay"]["disagreeing_exposures"] == 0
    [source] = body["replay"]["sources"]
    assert source["source"].startswith("growthbook-python/") and source["exposures"] == 120
    assert body["stored"] is False and body["computed_at"].endswith("Z")
    assert body["goal"] == CTA["goal"] and body["lake_version"] is not None


def _create(client: TestClient, sk: str, project: str, body: dict[str, Any]) -> Any:
    return client.post(f"/v1/projects/{project}/experiments", headers=auth(sk), json=body)


def test_stored_results_fresh_results_and_errors(
    client: TestClient, keys: dict[str, str], settings: Settings, catalog: Catalog
) -> None:
    sk, project = keys["secret_key"], keys["project_id"]
    assert _create(client, sk, project, CTA).status_code == 201
    url = f"/v1/projects/{project}/experiments/cta-copy/results"

    computed = client.get(url, headers=auth(sk))  # nothing stored yet: computed now
    assert computed.status_code == 200 and computed.json()["stored"] is False

    build = build_experiment_results(settings, catalog, project)
    assert build.computed == ["cta-copy"]
    stored = client.get(url, headers=auth(sk)).json()
    assert stored["stored"] is True
    assert stored["computed_at"] == build.results[0].model_dump(mode="json")["computed_at"]
    fresh = client.get(url, headers=auth(sk), params={"fresh": "true"}).json()
    assert fresh["stored"] is False
    assert datetime.fromisoformat(fresh["computed_at"]) > datetime.fromisoformat(
        stored["computed_at"]
    )
    other = client.get(url, headers=auth(sk), params={"goal": 'event_type = "signup"'}).json()
    assert other["goal"] == 'event_type = "signup"' and other["stored"] is False

    # A goal changed since the build: the stored results no longer answer.
    patch = client.patch(
        f"/v1/projects/{project}/experiments/cta-copy",
        headers=auth(sk),
        json={"goal": 'event_type = "purchase"'},
    )
    assert patch.status_code == 200, patch.text
    changed = client.get(url, headers=auth(sk)).json()
    assert changed["stored"] is False and changed["goal"] == 'event_type = "purchase"'

    # Rebuilt, then another change (the weights, same goal): stored results answer again only
    # until the experiment changes.
    build_experiment_results(settings, catalog, project)
    assert client.get(url, headers=auth(sk)).json()["stored"] is True
    reweighted = client.patch(
        f"/v1/projects/{project}/experiments/cta-copy",
        headers=auth(sk),
        json={"weights": [0.4, 0.6]},
    )
    assert reweighted.status_code == 200, reweighted.text
    after = client.get(url, headers=auth(sk)).json()
    assert after["stored"] is False and after["goal"] == 'event_type = "purchase"'

    missing = client.get(f"/v1/projects/{project}/experiments/nope/results", headers=auth(sk))
    assert missing.status_code == 404
    assert set(missing.json()) == {"error", "request_id"}
    assert missing.json()["error"]["code"] == "experiment_not_found"

    bad_goal = client.get(url, headers=auth(sk), params={"goal": 'event_type = "a" |'})
    assert bad_goal.status_code == 400
    error = bad_goal.json()["error"]
    assert error["code"] == "invalid_goal" and error["details"][0]["field"] == "goal"
    assert (error["details"][0]["line"], error["details"][0]["column"]) == (1, 19)

    bare = {**CTA, "key": "bare", "goal": None}
    assert _create(client, sk, project, bare).status_code == 201
    no_goal = client.get(f"/v1/projects/{project}/experiments/bare/results", headers=auth(sk))
    assert (no_goal.status_code, no_goal.json()["error"]["code"]) == (400, "goal_required")

    refused = _create(client, sk, project, {**CTA, "key": "typo", "goal": 'evnt = "x"'})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_goal"
    assert "did you mean" in refused.json()["error"]["message"]

    too_far = client.get(url, headers=auth(sk), params={"as_of": 999})
    assert (too_far.status_code, too_far.json()["error"]["code"]) == (400, "invalid_as_of")

    public = client.get(url, headers=auth(keys["public_key"]))
    assert (public.status_code, public.json()["error"]["code"]) == (403, "insufficient_scope")
