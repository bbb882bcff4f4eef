"""The GrowthBook tracking adapter, driven by the real ``growthbook`` SDK (4.x) and its
``GrowthBookTrackingPlugin``, which posts a JSON array as text/plain to
``{ingestor_host}/track?client_key=...``, over a socket to GrowthOS on uvicorn.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import orjson
import pytest
from growthbook import GrowthBook
from growthbook.plugins import growthbook_tracking_plugin

from growthos_pipeline.settings import Settings
from tests.adapters.live_server import LiveServer, serve

TRACK = "/growthbook/track"

FEATURES = {
    "new-checkout": {
        "defaultValue": False,
        "rules": [
            {
                "key": "checkout-v2",
                "variations": [False, True],
                "weights": [0.5, 0.5],
                "coverage": 1.0,
                "hashAttribute": "id",
            }
        ],
    }
}


@pytest.fixture
def live(app: Any, settings: Settings) -> Iterator[LiveServer]:
    with serve(app, settings) as server:
        yield server


def _growthbook(live: LiveServer, client_key: str) -> GrowthBook:
    plugin = growthbook_tracking_plugin(
        ingestor_host=f"{live.url}/growthbook", batch_size=100, batch_timeout=60
    )
    return GrowthBook(
        client_key=client_key,
        attributes={
            "id": "dev-9",
            "user_id": "user-9",
            "session_id": "sess-9",
            "country": "FR",
            "utmSource": "newsletter",
        },
        url="https://shop.example/checkout?step=2",
        features=FEATURES,
        plugins=[plugin],
    )


def _props(row: dict[str, Any]) -> dict[str, Any]:
    return orjson.loads(row["event_properties"]) if row["event_properties"] else {}


def test_the_sdk_plugin_sends_exposures_that_land_in_the_lake(
    live: LiveServer, keys: dict[str, str]
) -> None:
    gb = _growthbook(live, keys["public_key"])
    result = gb.eval_feature("new-checkout")  # an experiment exposure and a feature evaluation
    gb.log_event("Signed Up", {"plan": "pro"})
    gb.destroy()  # the plugin flushes its batch in a background thread

    [attempt] = live.recorder.wait_for(TRACK, 1)
    assert attempt.status == 200
    assert attempt.headers["content-type"] == "text/plain"
    assert attempt.answer == {"accepted": 3, "rejected": []}

    rows = {r["event_type"]: r for r in live.events(keys["project_id"]).to_dicts()}
    assert set(rows) == {"experiment_viewed", "feature_evaluated", "Signed Up"}
    viewed = rows["experiment_viewed"]
    assert (viewed["user_id"], viewed["device_id"], viewed["session_id"]) == (
        "user-9",
        "dev-9",
        "sess-9",
    )
    assert viewed["source"] == "growthbook"
    assert viewed["library"] == "growthbook-python/4.0.0"
    assert (viewed["_path"], viewed["_url"]) == (
        "/checkout",
        "https://shop.example/checkout?step=2",
    )
    props = _props(viewed)
    assert props["experiment_id"] == "checkout-v2"
    assert props["variation_id"] == result.experimentResult.variationId
    assert props["in_experiment"] is True
    assert (props["hash_attribute"], props["hash_value"]) == ("id", "dev-9")
    assert props["attributes"] == {"country": "FR"}
    assert props["utm_source"] == "newsletter"

    evaluated = _props(rows["feature_evaluated"])
    assert (evaluated["feature_key"], evaluated["experiment_id"]) == ("new-checkout", "checkout-v2")
    assert evaluated["feature_value"] == result.value
    assert _props(rows["Signed Up"])["plan"] == "pro"


def test_an_unknown_client_key_is_refused_once_and_nothing_is_stored(
    live: LiveServer, keys: dict[str, str]
) -> None:
    gb = _growthbook(live, "pk_" + "x" * 38)
    gb.eval_feature("new-checkout")
    gb.destroy()
    attempts = live.recorder.wait_for(TRACK, 1)
    assert [a.status for a in attempts] == [401]
    assert attempts[0].answer["error"]["code"] in ("invalid_api_key", "invalid_key")
    assert live.events(keys["project_id"]).is_empty()


def test_the_plugin_format_with_events_that_cannot_be_stored(
    live: LiveServer, keys: dict[str, str]
) -> None:
    """Exactly what the plugin sends (a text/plain JSON array), one event of which has no
    user or device id and one no name: those two are listed, the others kept."""
    events = [
        {
            "event_name": "$$experiment_viewed",
            "properties_json": {"experiment_id": "hero", "variation_id": 0},
            "sdk_language": "javascript",
            "sdk_version": "1.6.0",
            "url": "https://site.example/",
            "context_json": {},
            "user_id": None,
            "device_id": "anon-1",
            "page_id": "p-1",
            "session_id": None,
        },
        {"event_name": "$$experiment_viewed", "properties_json": {}, "user_id": None},
        {"event_name": "", "user_id": "u1"},
        # The fields named *_json may also come as JSON text.
        {
            "event_name": "clicked",
            "properties_json": json.dumps({"button": "buy"}),
            "user_id": "u1",
        },
    ]
    answer = httpx2.post(
        f"{live.url}{TRACK}",
        params={"client_key": keys["public_key"]},
        content=json.dumps(events),
        headers={"Content-Type": "text/plain"},
    )
    assert answer.status_code == 200
    assert [(r["index"], r["code"]) for r in answer.json()["rejected"]] == [
        (1, "missing_identity"),
        (2, "missing_event_type"),
    ]
    rows = {r["event_type"]: r for r in live.events(keys["project_id"]).to_dicts()}
    assert set(rows) == {"experiment_viewed", "clicked"}
    assert rows["experiment_viewed"]["device_id"] == "anon-1"
    assert rows["experiment_viewed"]["library"] == "growthbook-javascript/1.6.0"
    assert _props(rows["experiment_viewed"]) == {
        "experiment_id": "hero",
        "variation_id": 0,
        "page_id": "p-1",
    }
    assert _props(rows["clicked"]) == {"button": "buy"}


def test_a_missing_client_key_is_401(live: LiveServer) -> None:
    answer = httpx2.post(f"{live.url}{TRACK}", content="[]", headers={"Content-Type": "text/plain"})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "missing_credentials"
