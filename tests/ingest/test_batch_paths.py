"""Batches over HTTP land the same way whichever path took them: the typed fast path (Arrow
WAL records) and the general path (NDJSON WAL records)."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from growthos_pipeline.events import fast
from growthos_pipeline.ingest.accept import Ingestor
from growthos_pipeline.lake.read import read_events
from growthos_pipeline.settings import Settings
from tests.conftest import auth

CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


def event(tag: str, n: int) -> dict[str, Any]:
    return {
        "event_type": "product_viewed",
        "user_id": f"user_{n}",
        "session_id": 1_764_000_000_000 + n,
        "time": 1_763_999_000_000 + n,
        "insert_id": f"{tag}-{n}",
        "event_properties": {"sku": f"sku_{n}", "price": 9.5, "tags": ["a"]},
        "url": f"https://shop.example.com/p/{n}?utm_source=mail",
        "referrer": "https://www.google.com/",
    }


def test_fast_and_general_batches_land_alike(
    client: TestClient, keys: dict[str, str], settings: Settings
) -> None:
    headers = {**auth(keys["public_key"]), "user-agent": CHROME, "cf-ipcountry": "de"}
    size = fast.MIN_EVENTS
    quick = [event("fast", n) for n in range(size)]
    # One unknown field sends the whole request down the general path; the other events of
    # that request are accepted there and the odd one is listed.
    general = [event("general", n) for n in range(size)] + [{**event("x", 0), "colour": "red"}]
    for body in (quick, general):
        response = client.post("/v1/track", content=json.dumps({"events": body}), headers=headers)
        assert response.status_code == 200, response.text
    assert response.json()["accepted"] == size
    assert [r["code"] for r in response.json()["rejected"]] == ["unknown_field"]
    ingestor: Ingestor = client.app.state.ingestor  # type: ignore[attr-defined]
    ingestor.flush_now()

    rows = read_events(settings, keys["project_id"]).sort("insert_id").to_dicts()
    by_path: dict[str, list[dict[str, Any]]] = {"fast": [], "general": []}
    for row in rows:
        by_path[row["insert_id"].split("-")[0]].append(row)
    for tag, landed in by_path.items():
        assert len(landed) == size, tag
        row = next(r for r in landed if r["insert_id"] == f"{tag}-3")
        assert row["user_id"] == "user_3" and row["session_id"] == "1764000000003"
        assert json.loads(row["event_properties"]) == {"sku": "sku_3", "price": 9.5, "tags": ["a"]}
        assert row["_path"] == "/p/3" and row["_referrer"] == "https://www.google.com/"
        assert (row["_browser"], row["_os"], row["_device_type"]) == (
            "Chrome",
            "Mac OS X",
            "desktop",
        )
        assert row["_country"] == "DE" and row["source"] == "growthos"
        assert row["time"].timestamp() == 1_763_999_000.003
        assert row["event_id"].startswith("evt_")
