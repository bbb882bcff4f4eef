"""Experiments and features in the catalog, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from growthos_pipeline.catalog import keys, orgs
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.errors import BadRequest, Conflict, Forbidden, NotFound
from growthos_pipeline.experiments import store
from growthos_pipeline.experiments.config import (
    ExperimentCreate,
    ExperimentUpdate,
    FeatureCreate,
    FeatureUpdate,
)
from growthos_pipeline.settings import Settings

EXPERIMENT = ExperimentCreate.model_validate(
    {
        "key": "checkout",
        "variations": [{"value": False, "key": "control"}, {"value": True, "key": "one-page"}],
        "weights": [0.5, 0.5],
        "status": "running",
        "targeting": {"condition": {"country": {"$in": ["FR", "DE"]}}, "groups": ["beta"]},
        "phases": [{"started_at": "2026-12-01T00:00:00Z"}],
    }
)
FEATURE = FeatureCreate.model_validate(
    {
        "key": "one-page-checkout",
        "rules": [
            {"type": "force", "value": True, "condition": {"plan": "vip"}},
            {"type": "experiment", "experiment": "checkout"},
        ],
    }
)


def test_experiment_and_feature_lifecycle(any_catalog: Catalog, any_settings: Settings) -> None:
    boot = orgs.bootstrap(any_catalog, any_settings, org_name="Acme", project_name="Web")
    sk = keys.authenticate(any_catalog, any_settings, boot["secret_key"])
    pid = boot["project_id"]

    created = store.create_experiment(any_catalog, sk, pid, EXPERIMENT)
    assert created["id"].startswith("exp_") and created["key"] == "checkout"
    assert created["targeting"]["condition"] == {"country": {"$in": ["FR", "DE"]}}
    with pytest.raises(Conflict) as dup:
        store.create_experiment(any_catalog, sk, pid, EXPERIMENT)
    assert dup.value.code == "experiment_key_taken"
    assert store.get_experiment(any_catalog, sk, pid, "checkout")["id"] == created["id"]

    feature = store.create_feature(any_catalog, sk, pid, FEATURE)
    payload = store.client_features(any_catalog, pid)
    rules = payload["features"]["one-page-checkout"]["rules"]
    assert rules[0] == {"force": True, "condition": {"plan": "vip"}}
    assert rules[1]["key"] == "checkout" and rules[1]["phase"] == "0"
    assert payload["dateUpdated"] >= created["updated_at"].isoformat()
    assert store.client_overrides(any_catalog, pid)["overrides"]["checkout"]["groups"] == ["beta"]

    with pytest.raises(Conflict) as in_use:
        store.delete_experiment(any_catalog, sk, pid, created["id"])
    assert in_use.value.code == "experiment_in_use"
    with pytest.raises(BadRequest) as typed:  # the flag is boolean: variations must stay so
        store.update_experiment(
            any_catalog,
            sk,
            pid,
            "checkout",
            ExperimentUpdate.model_validate({"variations": [{"value": "a"}, {"value": "b"}]}),
        )
    assert typed.value.code == "invalid_feature_value"
    with pytest.raises(BadRequest) as weights:
        store.update_experiment(
            any_catalog, sk, pid, "checkout", ExperimentUpdate(weights=[0.9, 0.2])
        )
    assert weights.value.code == "invalid_weights"

    stopped = store.update_experiment(
        any_catalog, sk, pid, "checkout", ExperimentUpdate(status="stopped", winner=1)
    )
    assert (stopped["status"], stopped["winner"], stopped["weights"]) == ("stopped", 1, [0.5, 0.5])
    assert store.client_overrides(any_catalog, pid)["overrides"]["checkout"]["force"] == 1
    rules = store.client_features(any_catalog, pid)["features"]["one-page-checkout"]["rules"]
    assert rules[1] == {"force": True, "condition": {"country": {"$in": ["FR", "DE"]}}}

    store.update_feature(any_catalog, sk, pid, feature["id"], FeatureUpdate(rules=[]))
    store.delete_experiment(any_catalog, sk, pid, "checkout")
    with pytest.raises(NotFound):
        store.get_experiment(any_catalog, sk, pid, created["id"])
    assert store.client_overrides(any_catalog, pid) == {"status": 200, "overrides": {}}


def test_pagination_scope_and_tenancy(any_catalog: Catalog, any_settings: Settings) -> None:
    boot = orgs.bootstrap(any_catalog, any_settings, org_name="Acme", project_name="Web")
    other = orgs.bootstrap(any_catalog, any_settings, org_name="Other", project_name="App")
    sk = keys.authenticate(any_catalog, any_settings, boot["secret_key"])
    pk = keys.authenticate(any_catalog, any_settings, boot["public_key"])
    pid = boot["project_id"]
    for i in range(5):
        store.create_feature(any_catalog, sk, pid, FeatureCreate(key=f"flag-{i}"))
    seen, cursor = [], None
    while True:
        page = store.list_features(any_catalog, sk, pid, cursor=cursor, limit=2)
        seen += [f["key"] for f in page.data]
        if not page.has_more:
            break
        cursor = page.next_cursor
    assert seen == [f"flag-{i}" for i in range(5)]
    with pytest.raises(Forbidden):
        store.create_feature(any_catalog, pk, pid, FeatureCreate(key="from-public"))
    other_sk = keys.authenticate(any_catalog, any_settings, other["secret_key"])
    with pytest.raises(NotFound):
        store.get_feature(any_catalog, other_sk, pid, "flag-0")
    assert store.client_features(any_catalog, other["project_id"])["features"] == {}
