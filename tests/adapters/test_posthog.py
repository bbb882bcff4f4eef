"""The PostHog adapter, driven by the real ``posthog`` client library over a socket.

GrowthOS runs on uvicorn on 127.0.0.1 behind a recorder of the requests that reach it, so a
test can count the client's attempts; events are read back from the Delta lake.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import httpx2
import orjson
import pytest
from fastapi.testclient import TestClient
from posthog import Posthog

from api.app import create_app
from growthos_pipeline.settings import Settings
from tests.adapters.live_server import LiveServer, serve

BATCH = "/posthog/batch/"


@pytest.fixture
def live(app: Any, settings: Settings) -> Iterator[LiveServer]:
    with serve(app, settings) as server:
        yield server


def _client(live: LiveServer, key: str, **options: Any) -> Posthog:
    options.setdefault("sync_mode", True)
    return Posthog(key, host=f"{live.url}/posthog", **options)


def _props(row: dict[str, Any], column: str = "event_properties") -> dict[str, Any]:
    return orjson.loads(row[column]) if row[column] else {}


def test_capture_lands_in_the_lake_with_posthog_fields_mapped(
    live: LiveServer, keys: dict[str, str]
) -> None:
    client = _client(live, keys["public_key"])
    uuid_view = client.capture(
        "$pageview",
        distinct_id="user-1",
        timestamp="2024-05-01T10:00:00Z",
        properties={
            "$current_url": "https://shop.example/cart?x=1",
            "$referrer": "https://search.example/",
            "$session_id": "sess-1",
            "plan": "pro",
        },
    )
    uuid_buy = client.capture(
        "Order Completed",
        distinct_id="user-1",
        properties={"total": 30, "$set": {"plan": "pro"}},
        groups={"company": "acme"},
    )
    client.shutdown()
    assert [a.status for a in live.recorder.wait_for(BATCH, 2)] == [200, 200]

    rows = {r["insert_id"]: r for r in live.events(keys["project_id"]).to_dicts()}
    view, buy = rows[uuid_view], rows[uuid_buy]
    assert view["event_type"] == "page_view"
    assert (view["user_id"], view["device_id"], view["session_id"]) == ("user-1", None, "sess-1")
    assert view["time"].isoformat().startswith("2024-05-01T10:00:00")
    assert (view["_url"], view["_path"]) == ("https://shop.example/cart?x=1", "/cart")
    assert view["_referrer"] == "https://search.example/"
    assert view["source"] == "posthog"
    assert view["library"].startswith("posthog-python/")
    props = _props(view)
    assert props["plan"] == "pro"
    assert not {"$current_url", "$referrer", "$lib", "$session_id"} & props.keys()
    assert buy["event_type"] == "Order Completed"
    assert _props(buy)["total"] == 30
    assert _props(buy, "user_properties") == {"$set": {"plan": "pro"}}
    assert _props(buy, "groups") == {"company": "acme"}


def test_identify_set_set_once_alias_and_group_identify(
    live: LiveServer, keys: dict[str, str]
) -> None:
    client = _client(live, keys["secret_key"])
    anon = client.capture(
        "$pageview", distinct_id="anon-7", properties={"$process_person_profile": False}
    )
    ident = client.capture(
        "$identify",
        distinct_id="user-7",
        properties={
            "$anon_distinct_id": "anon-7",
            "$set": {"email": "u7@example.com"},
            "$set_once": {"first_seen": "2024-05-01"},
        },
    )
    set_id = client.set(distinct_id="user-7", properties={"plan": "growth"})
    once_id = client.set_once(distinct_id="user-7", properties={"signup_source": "ads"})
    alias_id = client.alias(previous_id="legacy-7", distinct_id="user-7")
    group_id = client.group_identify(
        "company", "acme", {"name": "Acme", "seats": 12}, distinct_id="user-7"
    )
    client.shutdown()

    rows = {r["insert_id"]: r for r in live.events(keys["project_id"]).to_dicts()}
    assert len(rows) == 6
    assert (rows[anon]["user_id"], rows[anon]["device_id"]) == (None, "anon-7")

    identify = rows[ident]
    assert identify["event_type"] == "$identify"
    assert (identify["user_id"], identify["device_id"]) == ("user-7", "anon-7")
    assert _props(identify, "user_properties") == {
        "$set": {"email": "u7@example.com"},
        "$set_once": {"first_seen": "2024-05-01"},
    }

    assert rows[set_id]["event_type"] == "$identify"
    assert _props(rows[set_id], "user_properties") == {"$set": {"plan": "growth"}}
    assert _props(rows[once_id], "user_properties") == {"$set_once": {"signup_source": "ads"}}

    alias = rows[alias_id]
    assert alias["event_type"] == "$alias"
    assert (alias["user_id"], alias["device_id"]) == ("user-7", "legacy-7")
    assert _props(alias) == {"previous_id": "legacy-7"}

    group = rows[group_id]
    assert group["event_type"] == "$group"
    assert group["user_id"] == "user-7"
    assert _props(group, "groups") == {"company": "acme"}
    assert _props(group) == {"name": "Acme", "seats": 12}


def test_gzip_batches_from_the_background_consumer(live: LiveServer, keys: dict[str, str]) -> None:
    client = _client(live, keys["public_key"], sync_mode=False, gzip=True, flush_at=50)
    sent = [client.capture("clicked", distinct_id=f"u{i}", properties={"n": i}) for i in range(20)]
    client.shutdown()  # flushes the queue: one batch
    seen = live.recorder.wait_for(BATCH, 1)
    assert [a.status for a in seen] == [200]
    assert seen[0].headers["content-encoding"] == "gzip"
    assert seen[0].answer["accepted"] == 20
    frame = live.events(keys["project_id"])
    assert sorted(frame["insert_id"].to_list()) == sorted(sent)
    assert sorted(_props(r)["n"] for r in frame.to_dicts()) == list(range(20))


def test_an_invalid_key_is_final_for_the_client_no_retry_storm(live: LiveServer) -> None:
    errors: list[Exception] = []
    client = _client(
        live,
        "pk_not_a_real_key",
        sync_mode=False,
        max_retries=5,
        flush_at=10,
        on_error=lambda error, batch: errors.append(error),
    )
    for i in range(3):
        client.capture("clicked", distinct_id=f"u{i}")
    client.shutdown()
    # One request for the whole batch: a 401 is not retried (a 5xx would be, 5 times).
    assert [a.status for a in live.recorder.wait_for(BATCH, 1)] == [401]
    assert len(errors) == 1
    # The client read our message from `detail`, PostHog's error field.
    assert getattr(errors[0], "status", None) == 401
    direct = httpx2.post(f"{live.url}{BATCH}", json={"api_key": "pk_not_a_real_key", "batch": []})
    assert getattr(errors[0], "message", None) == direct.json()["detail"]


def test_a_bad_event_in_a_batch_is_skipped_and_listed(
    live: LiveServer, keys: dict[str, str]
) -> None:
    body = {
        "api_key": keys["public_key"],
        "sent_at": "2024-05-01T10:00:00Z",
        "batch": [
            {
                "event": "ok",
                "distinct_id": "u1",
                "uuid": "11111111-1111-4111-8111-111111111111",
                "timestamp": "2024-05-01T10:00:00Z",
            },
            {"event": "no-id", "properties": {}},
            {"event": "bad-set", "distinct_id": "u1", "$set": ["not", "an", "object"]},
        ],
    }
    answer = httpx2.post(
        f"{live.url}{BATCH}",
        content=gzip.compress(json.dumps(body).encode()),
        headers={"Content-Encoding": "gzip"},
    )
    assert answer.status_code == 200
    assert answer.json()["status"] == 1
    assert [(r["index"], r["code"]) for r in answer.json()["rejected"]] == [
        (1, "missing_identity"),
        (2, "invalid_properties"),
    ]
    assert live.events(keys["project_id"])["event_type"].to_list() == ["ok"]


def test_capture_endpoint_takes_one_event_with_the_token_in_its_properties(
    live: LiveServer, keys: dict[str, str]
) -> None:
    """posthog-js's shape: /i/v0/e/, a gzip body marked by ?compression=gzip-js, the key as
    ``token`` in the event's properties, an anonymous visitor (distinct_id == $device_id)."""
    event = {
        "event": "$pageview",
        "properties": {
            "token": keys["public_key"],
            "distinct_id": "dev-1",
            "$device_id": "dev-1",
            "$current_url": "https://site.example/pricing",
            "$referrer": "$direct",
            "$raw_user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/124.0 Safari/537.36",
            "$lib": "web",
            "$lib_version": "1.130.0",
        },
    }
    answer = httpx2.post(
        f"{live.url}/posthog/i/v0/e/?compression=gzip-js",
        content=gzip.compress(json.dumps(event).encode()),
    )
    assert answer.status_code == 200, answer.text
    row = live.events(keys["project_id"]).to_dicts()[0]
    assert (row["user_id"], row["device_id"]) == (None, "dev-1")
    assert (row["_path"], row["_referrer"], row["library"]) == ("/pricing", "", "web/1.130.0")
    assert row["_browser"] == "Chrome"
    assert "token" not in _props(row)


def test_errors_are_in_posthogs_shape(live: LiveServer, keys: dict[str, str]) -> None:
    missing = httpx2.post(f"{live.url}{BATCH}", json={"batch": []})
    assert missing.status_code == 401
    assert missing.json()["type"] == "authentication_error"
    assert missing.json()["code"] == "missing_credentials"
    assert missing.json()["detail"]
    one_bad = httpx2.post(
        f"{live.url}/posthog/i/v0/e", json={"api_key": keys["public_key"], "event": ""}
    )
    assert one_bad.status_code == 400
    assert (one_bad.json()["type"], one_bad.json()["code"]) == ("validation_error", "invalid_event")
    not_json = httpx2.post(f"{live.url}{BATCH}", content=b"{nope")
    assert (not_json.status_code, not_json.json()["code"]) == (400, "invalid_json")


def test_a_dependencys_error_is_in_posthogs_shape_too(make_settings: Any) -> None:
    """The ingest feature switched off: a 503 the client retries, still with ``detail``."""
    with TestClient(create_app(make_settings(disabled_features="ingest"))) as client:
        answer = client.post(BATCH, json={"api_key": "pk_x", "batch": []})
    assert answer.status_code == 503
    assert (answer.json()["type"], answer.json()["code"]) == ("server_error", "feature_disabled")
    assert answer.json()["detail"]
