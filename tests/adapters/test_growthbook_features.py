"""The experiment configuration read by the real ``growthbook`` SDK (4.x) over a socket:
``api_host`` points at ``/growthbook``, the client key is a GrowthOS public key. The SDK
fetches the features, evaluates a flag and runs an experiment, and assigns every user the
variation :func:`growthos_pipeline.experiments.config.assignment` gives."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from growthbook import GrowthBook, feature_repo
from growthbook.common_types import Experiment

from api.adapters.growthbook_features import Snapshots
from growthos_pipeline.catalog import keys as catalog_keys
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.experiments import store
from growthos_pipeline.experiments.config import (
    ExperimentCreate,
    FeatureCreate,
    FeatureUpdate,
    assignment,
)
from growthos_pipeline.settings import Settings
from tests.adapters.live_server import LiveServer, serve

CHECKOUT = ExperimentCreate.model_validate(
    {
        "key": "checkout-layout",
        "variations": [
            {"value": "classic", "key": "control"},
            {"value": "one-page", "key": "one-page"},
            {"value": "wizard", "key": "wizard"},
        ],
        "weights": [0.5, 0.25, 0.25],
        "coverage": 0.9,
        "status": "running",
        "hash_version": 2,
        "seed": "checkout-2026",
        "namespace": {"id": "checkout", "start": 0.0, "end": 0.8},
        "phases": [{"started_at": "2026-12-01T00:00:00Z"}],
    }
)
FEATURES = [
    FeatureCreate.model_validate(
        {
            "key": "checkout-layout",
            "value_type": "string",
            "default_value": "classic",
            "rules": [
                {"type": "force", "value": "wizard", "condition": {"employee": True}},
                {"type": "experiment", "experiment": "checkout-layout"},
            ],
        }
    ),
    FeatureCreate(key="dark-mode", value_type="boolean", default_value=True),
]


@pytest.fixture
def live(app: Any, settings: Settings) -> Iterator[LiveServer]:
    with serve(app, settings) as server:
        yield server


@pytest.fixture
def public_key(catalog: Catalog, settings: Settings, keys: dict[str, str]) -> str:
    admin = catalog_keys.authenticate(catalog, settings, keys["secret_key"])
    store.create_experiment(catalog, admin, keys["project_id"], CHECKOUT)
    for feature in FEATURES:
        store.create_feature(catalog, admin, keys["project_id"], feature)
    return keys["public_key"]


def test_the_sdk_loads_features_and_assigns_like_the_toolkit(
    live: LiveServer, public_key: str
) -> None:
    api_host = f"{live.url}/growthbook"
    gb = GrowthBook(api_host=api_host, client_key=public_key, attributes={"id": "u-0"})
    gb.load_features()
    fetched = live.recorder.to(f"/growthbook/api/features/{public_key}")
    assert [a.status for a in fetched] == [200]
    assert gb.is_on("dark-mode")
    gb.set_attributes({"id": "u-0", "employee": True})
    assert gb.get_feature_value("checkout-layout", None) == "wizard"

    values = [v.value for v in CHECKOUT.variations]
    served: dict[str, int] = {}
    for i in range(300):
        user = f"user-{i}"
        gb.set_attributes({"id": user})
        result = gb.eval_feature("checkout-layout")
        ours = assignment(CHECKOUT, user)
        assert result.value == (values[ours.variation] if ours.in_experiment else "classic")
        if ours.in_experiment:
            assert result.experimentResult is not None
            assert result.experimentResult.variationId == ours.variation
            assert result.experimentResult.key == CHECKOUT.variations[ours.variation].key
        served[str(result.value)] = served.get(str(result.value), 0) + 1
    # Every variation is served, and the namespace and coverage leave some users out.
    assert set(served) == set(values)
    assert sum(assignment(CHECKOUT, f"user-{i}").in_experiment for i in range(300)) < 270
    gb.destroy()


def test_the_legacy_overrides_run_in_the_sdk(live: LiveServer, public_key: str) -> None:
    answer = httpx2.get(f"{live.url}/config/{public_key}")
    assert answer.status_code == 200 and answer.headers["ETag"]
    override = answer.json()["overrides"]["checkout-layout"]
    assert override == {"status": "running", "weights": [0.5, 0.25, 0.25], "coverage": 0.9}
    # A legacy client applies the override to its own inline experiment (hash version 1).
    legacy = CHECKOUT.model_copy(update={"hash_version": 1, "seed": None, "namespace": None})
    experiment = Experiment(
        key="checkout-layout",
        variations=[0, 1, 2],
        weights=override["weights"],
        coverage=override["coverage"],
    )
    for i in range(300):
        user = f"user-{i}"
        result = GrowthBook(attributes={"id": user}).run(experiment)
        ours = assignment(legacy, user)
        assert (result.variationId, result.inExperiment) == (ours.variation, ours.in_experiment)
    again = httpx2.get(
        f"{live.url}/config/{public_key}", headers={"If-None-Match": answer.headers["ETag"]}
    )
    assert again.status_code == 304


def test_streaming_sdk_receives_changes(
    live: LiveServer, public_key: str, catalog: Catalog, settings: Settings, keys: dict[str, str]
) -> None:
    gb = GrowthBook(
        api_host=f"{live.url}/growthbook",
        client_key=public_key,
        attributes={"id": "u-1"},
        streaming=True,
    )
    admin = catalog_keys.authenticate(catalog, settings, keys["secret_key"])

    def served_after(value: bool) -> None:
        store.update_feature(
            catalog, admin, keys["project_id"], "dark-mode", FeatureUpdate(default_value=value)
        )
        deadline = time.monotonic() + 10
        while gb.is_on("dark-mode") is not value:
            assert time.monotonic() < deadline, "the change did not reach the streaming SDK"
            time.sleep(0.05)

    try:
        assert gb.is_on("dark-mode")
        # A streaming SDK never polls: each change it sees came down the stream. The second
        # one happens while the stream is surely open, so the server noticed it by itself.
        served_after(False)
        served_after(True)
    finally:
        # The SDK's stream thread takes its whole timeout to stop (10 s by default) whatever
        # the server sends (a heartbeat each second included); a short one closes the
        # connection all the same.
        gb.destroy(timeout=1)
        feature_repo.stopAutoRefresh()  # the SDK keeps its stream client process-wide


def test_streams_share_one_catalog_read_per_project_and_period(
    catalog: Catalog, public_key: str, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    real = store.client_features

    def counted(catalog: Catalog, project_id: str) -> dict[str, Any]:
        reads.append(project_id)
        return real(catalog, project_id)

    monkeypatch.setattr(store, "client_features", counted)
    snapshots = Snapshots()

    async def many() -> list[bytes]:
        return await asyncio.gather(
            *(snapshots.get(catalog, keys["project_id"]) for _ in range(20))
        )

    bodies = asyncio.run(many())
    assert reads == [keys["project_id"]] and len(set(bodies)) == 1
    assert json.loads(bodies[0])["features"]["dark-mode"]["defaultValue"] is True
