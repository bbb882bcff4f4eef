"""The Amplitude adapter, driven by the real ``amplitude-analytics`` client over a socket.

The client's ``server_url`` points at ``<server>/amplitude/2/httpapi`` (or ``/batch``) with a
GrowthOS key as API key, as a user would configure it; GrowthOS runs on uvicorn on 127.0.0.1
behind a recorder that counts the client's attempts.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from amplitude import Amplitude, BaseEvent, Config, EventOptions, Identify
from amplitude.constants import SDK_LIBRARY, SDK_VERSION

from api.app import create_app
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.settings import Settings
from tests.adapters.live_server import LiveServer, serve

HTTPAPI = "/amplitude/2/httpapi"


@pytest.fixture
def live(settings: Settings, catalog: Catalog) -> Iterator[LiveServer]:
    with serve(create_app(settings, catalog=catalog), settings) as server:
        yield server


class Outcomes:
    """The client's per-event callbacks: (insert_id, code, message)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, str]] = []
        self.changed = threading.Condition()

    def __call__(self, event: BaseEvent, code: int, message: str | None = None) -> None:
        with self.changed:
            self.seen.append((event.insert_id, code, message or ""))
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float = 15) -> list[tuple[str, int, str]]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(self.seen) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"the client reported {len(self.seen)} of {count} events"
                self.changed.wait(left)
            return list(self.seen)


def _client(
    live: LiveServer, api_key: str, outcomes: Outcomes, path: str = HTTPAPI, **options: Any
) -> Amplitude:
    config = Config(
        server_url=f"{live.url}{path}", flush_interval_millis=50, callback=outcomes, **options
    )
    return Amplitude(api_key, configuration=config)


def _flush(client: Amplitude) -> None:
    """Send what the client holds and wait for the answers (one future per destination)."""
    for future in client.flush():
        if future is not None:
            future.result(timeout=15)


def _ms(seconds_ago: float = 0) -> int:
    return int((time.time() - seconds_ago) * 1000)


def _props(value: str | None) -> dict[str, Any]:
    return json.loads(value) if value else {}


@pytest.mark.parametrize("path", [HTTPAPI, "/amplitude/batch"])
def test_events_and_identify_arrive_in_the_lake(
    live: LiveServer, keys: dict[str, str], path: str
) -> None:
    outcomes = Outcomes()
    client = _client(live, keys["public_key"], outcomes, path=path)
    played_at = _ms(60)
    try:
        client.track(
            BaseEvent(
                event_type="Song Played",
                user_id="user-1",
                device_id="device-1",
                time=played_at,
                insert_id="ins-play",
                session_id=played_at - 5000,
                event_properties={"genre": "jazz"},
                platform="iOS",
                os_name="ios",
                device_model="iPhone15,2",
                ip="203.0.113.9",
                price=1.5,
                quantity=2,
                idfa="ad-id-to-drop",
            )
        )
        identify = (
            Identify()
            .set("plan", "pro")
            .set_once("first_seen", "2024-01-01")
            .add("logins", 1)
            .append("tags", "a")
            .prepend("history", "b")
            .remove("old", "c")
            .unset("trial")
            .post_insert("badges", "gold")
        )
        client.identify(identify, EventOptions(user_id="user-1", insert_id="ins-identify"))
        client.identify(
            Identify().clear_all(), EventOptions(device_id="device-2", insert_id="ins-clear")
        )
        _flush(client)
        seen = outcomes.wait_for(3)
    finally:
        client.shutdown()

    assert sorted(seen) == [
        ("ins-clear", 200, "Event sent successfully."),
        ("ins-identify", 200, "Event sent successfully."),
        ("ins-play", 200, "Event sent successfully."),
    ]
    (attempt,) = live.recorder.to(path)
    assert attempt.status == 200
    assert attempt.answer["code"] == 200
    assert attempt.answer["events_ingested"] == 3
    assert attempt.answer["payload_size_bytes"] > 0
    assert abs(attempt.answer["server_upload_time"] - _ms()) < 60_000

    rows = {r["insert_id"]: r for r in live.events(keys["project_id"]).to_dicts()}
    assert set(rows) == {"ins-play", "ins-identify", "ins-clear"}
    assert {r["source"] for r in rows.values()} == {"amplitude"}
    assert {r["library"] for r in rows.values()} == {f"{SDK_LIBRARY}/{SDK_VERSION}"}

    play = rows["ins-play"]
    assert (play["event_type"], play["user_id"], play["device_id"]) == (
        "Song Played",
        "user-1",
        "device-1",
    )
    assert int(play["time"].timestamp() * 1000) == played_at
    assert play["session_id"] == str(played_at - 5000)
    assert _props(play["event_properties"]) == {
        "genre": "jazz",
        "$platform": "iOS",
        "$os_name": "ios",
        "$device_model": "iPhone15,2",
        "$ip": "203.0.113.9",
        "$price": 1.5,
        "$quantity": 2,
    }

    ops = _props(rows["ins-identify"]["user_properties"])
    assert rows["ins-identify"]["event_type"] == "$identify"
    assert ops == {
        "$set": {"plan": "pro"},
        "$set_once": {"first_seen": "2024-01-01"},
        "$add": {"logins": 1},
        "$append": {"tags": "a", "badges": "gold"},
        "$prepend": {"history": "b"},
        "$remove": {"old": "c"},
        "$unset": ["trial"],
    }
    clear = rows["ins-clear"]
    assert (clear["device_id"], _props(clear["user_properties"])) == (
        "device-2",
        {"$clearAll": True},
    )


def test_one_invalid_event_the_rest_arrive_exactly_once(
    live: LiveServer, keys: dict[str, str]
) -> None:
    outcomes = Outcomes()
    client = _client(live, keys["secret_key"], outcomes)
    three_days_ahead = _ms(-3 * 86400)
    try:
        client.track(BaseEvent(event_type="First", user_id="user-1", insert_id="ins-1"))
        client.track(
            BaseEvent(
                event_type="From The Future",
                user_id="user-1",
                insert_id="ins-bad",
                time=three_days_ahead,
            )
        )
        client.track(BaseEvent(event_type="Third", user_id="user-1", insert_id="ins-3"))
        _flush(client)
        seen = outcomes.wait_for(3)  # the two valid ones come after the client's resend
    finally:
        client.shutdown()
    attempts = live.recorder.to(HTTPAPI)

    by_id = {insert_id: (code, message) for insert_id, code, message in seen}
    assert by_id["ins-1"][0] == by_id["ins-3"][0] == 200
    assert by_id["ins-bad"][0] == 400
    assert "time" in by_id["ins-bad"][1]
    # The first request is refused whole, naming the bad index; the client resends the two
    # others (in one request or two, as its scheduler pulls them), each accepted, no more.
    assert attempts[0].status == 400
    assert [e["insert_id"] for e in attempts[0].body["events"]] == ["ins-1", "ins-bad", "ins-3"]
    assert attempts[0].answer["events_with_invalid_fields"] == {"time": [1]}
    assert {a.status for a in attempts[1:]} == {200}
    resent = [e["insert_id"] for a in attempts[1:] for e in a.body["events"]]
    assert sorted(resent) == ["ins-1", "ins-3"]

    raw = live.events(keys["project_id"], dedup=False)
    assert sorted(raw["insert_id"].to_list()) == ["ins-1", "ins-3"]  # stored once each
    assert sorted(raw["event_type"].to_list()) == ["First", "Third"]


def test_an_invalid_key_is_one_attempt_then_the_client_stops(
    live: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    outcomes = Outcomes()
    client = _client(live, "sk_not_a_real_key", outcomes)
    with caplog.at_level(logging.ERROR, logger="amplitude"):
        try:
            client.track(BaseEvent(event_type="Signed Up", user_id="user-1"))
            client.track(BaseEvent(event_type="Signed Up", user_id="user-2"))
            _flush(client)
        finally:
            client.shutdown()

    (attempt,) = live.recorder.to(HTTPAPI)
    assert attempt.status == 400
    assert attempt.answer["code"] == 400
    assert attempt.answer["error"].startswith("Invalid API key:")
    assert "sk_not_a_real_key" not in attempt.answer["error"]  # never echoes the key
    assert outcomes.seen == []  # the client drops the events without retrying them
    assert "Invalid API Key" in caplog.text


def test_a_missing_api_key_is_dropped_not_retried(live: LiveServer) -> None:
    outcomes = Outcomes()
    client = _client(live, "", outcomes)
    try:
        client.track(BaseEvent(event_type="Signed Up", user_id="user-1", insert_id="ins-1"))
        _flush(client)
        seen = outcomes.wait_for(1)
    finally:
        client.shutdown()
    assert seen == [("ins-1", 400, "Request missing required field api_key")]
    assert len(live.recorder.to(HTTPAPI)) == 1


def test_payload_too_large_makes_the_client_split_its_batches(
    settings: Settings, catalog: Catalog, keys: dict[str, str]
) -> None:
    small = settings.model_copy(update={"ingest_max_batch_events": 2})
    with serve(create_app(small, catalog=catalog), small) as live:
        outcomes = Outcomes()
        client = _client(live, keys["secret_key"], outcomes, flush_queue_size=4)
        try:
            for n in range(4):
                client.track(BaseEvent(event_type="Tick", user_id="user-1", insert_id=f"ins-{n}"))
            _flush(client)
            seen = outcomes.wait_for(4)
        finally:
            client.shutdown()
        attempts = live.recorder.to(HTTPAPI)
        raw = live.events(keys["project_id"], dedup=False)

    assert {code for _, code, _ in seen} == {200}
    assert (attempts[0].status, len(attempts[0].body["events"])) == (413, 4)
    assert attempts[0].answer["code"] == 413
    # The client resends in smaller batches (how small is its own scheduling), each accepted.
    assert {a.status for a in attempts[1:]} == {200}
    assert all(len(a.body["events"]) <= 2 for a in attempts[1:])
    assert sum(len(a.body["events"]) for a in attempts[1:]) == 4
    assert sorted(raw["insert_id"].to_list()) == ["ins-0", "ins-1", "ins-2", "ins-3"]
