"""The Segment adapter, driven by the real ``segment-analytics-python`` library over a socket.

The library is configured with ``host=<server>/segment`` and a GrowthOS key as write key, as a
user would; GrowthOS runs on uvicorn on 127.0.0.1 behind a recorder that counts the attempts.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from segment.analytics import Client
from segment.analytics import request as segment_request
from segment.analytics.request import APIError, post
from segment.analytics.version import VERSION

from api.app import create_app
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.settings import Settings
from tests.adapters.live_server import LiveServer, serve

BATCH = "/segment/v1/batch"


@pytest.fixture
def live(settings: Settings, catalog: Catalog) -> Iterator[LiveServer]:
    with serve(create_app(settings, catalog=catalog), settings) as server:
        yield server


class Errors:
    """What the library reports through ``on_error``."""

    def __init__(self) -> None:
        self.calls: list[tuple[Exception, list[dict[str, Any]]]] = []
        self.lock = threading.Lock()

    def __call__(self, error: Exception, batch: list[dict[str, Any]]) -> None:
        with self.lock:
            self.calls.append((error, batch))


def _client(live: LiveServer, write_key: str, errors: Errors, **options: Any) -> Client:
    return Client(
        write_key,
        host=f"{live.url}/segment",
        on_error=errors,
        upload_interval=0.05,
        max_retries=5,
        **options,
    )


def _props(value: str | None) -> dict[str, Any]:
    return json.loads(value) if value else {}


def test_every_message_type_arrives_in_the_lake(live: LiveServer, keys: dict[str, str]) -> None:
    errors = Errors()
    client = _client(live, keys["public_key"], errors)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    try:
        client.track(
            "u1", "Order Completed", {"total": 30}, timestamp=an_hour_ago, message_id="m-track"
        )
        client.identify("u1", {"plan": "pro"}, anonymous_id="a1", message_id="m-identify")
        client.page(
            anonymous_id="a1",
            name="Pricing",
            properties={"url": "https://example.com/pricing?x=1"},
            message_id="m-page",
        )
        client.screen("u1", name="Home", message_id="m-screen")
        client.group("u1", "acme", {"seats": 5}, message_id="m-group")
        client.alias("a1", "u1", message_id="m-alias")
        client.flush()
    finally:
        client.shutdown()

    assert errors.calls == []
    assert [a.status for a in live.recorder.to(BATCH)] == [200]
    assert live.recorder.to(BATCH)[0].answer["success"] is True
    rows = {r["insert_id"]: r for r in live.events(keys["project_id"]).to_dicts()}
    assert set(rows) == {"m-track", "m-identify", "m-page", "m-screen", "m-group", "m-alias"}
    assert {r["library"] for r in rows.values()} == {f"analytics-python/{VERSION}"}
    assert {r["source"] for r in rows.values()} == {"segment"}

    track = rows["m-track"]
    assert (track["event_type"], track["user_id"]) == ("Order Completed", "u1")
    assert _props(track["event_properties"]) == {"total": 30}
    # The client's clock agrees with the server's: the event keeps its own time.
    assert abs(track["time"] - an_hour_ago) < timedelta(seconds=2)

    identify = rows["m-identify"]
    assert (identify["event_type"], identify["user_id"], identify["device_id"]) == (
        "$identify",
        "u1",
        "a1",
    )
    assert _props(identify["user_properties"]) == {"plan": "pro"}

    page = rows["m-page"]
    assert (page["event_type"], page["device_id"], page["user_id"]) == ("page_view", "a1", None)
    assert _props(page["event_properties"])["name"] == "Pricing"
    assert page["_path"] == "/pricing"

    screen = rows["m-screen"]
    assert (screen["event_type"], _props(screen["event_properties"])) == (
        "screen_view",
        {"name": "Home"},
    )

    group = rows["m-group"]
    assert group["event_type"] == "$group"
    assert _props(group["groups"]) == {"group": "acme"}
    assert _props(group["event_properties"]) == {"seats": 5}

    alias = rows["m-alias"]
    assert (alias["event_type"], alias["user_id"], alias["device_id"]) == ("$alias", "u1", "a1")


class _SkewedClock(datetime):
    """A device clock two hours fast."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return datetime.now(tz) + timedelta(hours=2)


def test_sent_at_corrects_a_skewed_device_clock(
    live: LiveServer, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The library stamps sentAt with its own clock when it sends: make that clock fast.
    monkeypatch.setattr(segment_request, "datetime", _SkewedClock)
    errors = Errors()
    client = _client(live, keys["secret_key"], errors, gzip=True)
    try:
        # Ten minutes ago by the device's (wrong) clock.
        client.track(
            "u1",
            "Clicked",
            timestamp=_SkewedClock.now(UTC) - timedelta(minutes=10),
            message_id="m-skewed",
        )
        client.flush()
    finally:
        client.shutdown()
    assert errors.calls == []
    (attempt,) = live.recorder.to(BATCH)
    assert attempt.headers["content-encoding"] == "gzip"
    sent_at = datetime.fromisoformat(json.loads(gzip.decompress(attempt.raw))["sentAt"])
    assert sent_at - datetime.now(UTC) > timedelta(hours=1)  # the device's clock is fast
    real_event_time = datetime.now(UTC) - timedelta(minutes=10)
    (row,) = live.events(keys["project_id"]).to_dicts()
    assert row["insert_id"] == "m-skewed"
    assert abs(row["time"] - real_event_time) < timedelta(seconds=5)


def test_an_invalid_key_is_one_attempt_then_on_error(live: LiveServer) -> None:
    errors = Errors()
    client = _client(live, "sk_not_a_real_key", errors)
    try:
        client.track("u1", "Signed Up")
        client.track("u2", "Signed Up")
        client.flush()  # returns once the library has given up on the batch
        attempts = live.recorder.to(BATCH)
    finally:
        client.shutdown()

    assert [a.status for a in attempts] == [401]
    assert "x-retry-count" not in attempts[0].headers
    ((error, batch),) = errors.calls
    assert isinstance(error, APIError)
    assert (error.status, error.code) == (401, "invalid_api_key")
    assert [m["userId"] for m in batch] == ["u1", "u2"]
    assert live.recorder.to(BATCH) == attempts  # nothing more after the library stopped


def test_error_bodies_carry_code_and_message(live: LiveServer, keys: dict[str, str]) -> None:
    """The library's own ``post`` reads ``code`` and ``message`` from every error body
    (``unknown`` would mean a body without them, which releases before 2.4 retried)."""
    host = f"{live.url}/segment"
    message = {"type": "track", "event": "x", "userId": "u1"}
    cases = {
        "sk_unknown": (401, "invalid_api_key"),
        keys["admin_key"]: (403, "project_key_required"),
    }
    for write_key, expected in cases.items():
        with pytest.raises(APIError) as caught:
            post(write_key, host=host, batch=[message])
        assert (caught.value.status, caught.value.code) == expected
        assert caught.value.message

    answer = requests.post(
        f"{live.url}{BATCH}", data=b"{not json", timeout=10, auth=(keys["secret_key"], "")
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid_json" and answer.json()["message"]

    answer = requests.post(f"{live.url}{BATCH}", json={"batch": [message]}, timeout=10)
    assert answer.status_code == 401
    assert answer.json()["code"] == "missing_credentials"


def test_write_key_in_the_body_alone(live: LiveServer, keys: dict[str, str]) -> None:
    """Libraries that send the write key only in the body (no Basic header) are accepted."""
    body = {
        "writeKey": keys["secret_key"],
        "sentAt": datetime.now(UTC).isoformat(),
        "batch": [
            {
                "type": "track",
                "event": "Body Key",
                "anonymousId": "a9",
                "messageId": "m-body",
                "timestamp": datetime.now(UTC).isoformat(),
            },
            {"type": "shout", "userId": "u1"},
        ],
    }
    answer = requests.post(f"{live.url}{BATCH}", json=body, timeout=10)
    assert answer.status_code == 200
    assert answer.json()["success"] is True
    assert answer.json()["accepted"] == 1
    assert [r["code"] for r in answer.json()["rejected"]] == ["unknown_type"]
    (row,) = live.events(keys["project_id"]).to_dicts()
    assert (row["insert_id"], row["event_type"], row["device_id"]) == ("m-body", "Body Key", "a9")


def test_single_message_call(live: LiveServer, keys: dict[str, str]) -> None:
    """``/v1/track`` takes one message whose type the path gives."""
    answer = requests.post(
        f"{live.url}/segment/v1/track",
        timeout=10,
        auth=(keys["public_key"], ""),
        json={"event": "One", "userId": "u5", "messageId": "m-one"},
    )
    assert answer.status_code == 200, answer.text
    answer = requests.post(
        f"{live.url}/segment/v1/track",
        timeout=10,
        auth=(keys["public_key"], ""),
        json={"userId": "u5"},
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid_event"
    (row,) = live.events(keys["project_id"]).to_dicts()
    assert (row["event_type"], row["user_id"]) == ("One", "u5")
